import { useEffect, useState, type FormEvent } from 'react';
import Layout from '@theme/Layout';
import Heading from '@theme/Heading';
import Link from '@docusaurus/Link';
import useBaseUrl from '@docusaurus/useBaseUrl';
import {
  diagnose,
  diagnosisText,
  forgetTarget,
  labTarget,
  normalizeUrl,
  proxied,
  saveTarget,
  savedTarget,
  tokenFromUrl,
  type Diagnosis,
  type JupyterTarget,
} from '../lib/live';
import { accessDays, openCommandLine } from '../../model/site-access.ts';

/** A server and whether it answers right now (undefined: still checking). */
type Checked = { target: JupyterTarget; diagnosis: Diagnosis | null | undefined };

function describe(t: JupyterTarget): string {
  if (t.source === 'reader') return 'set here';
  return proxied(t)
    ? 'the lab’s Jupyter, reached through this site (announced by ./lab start)'
    : 'announced by ./lab start';
}

export default function LiveMode() {
  const baseUrl = useBaseUrl('/');
  const [lab, setLab] = useState<JupyterTarget | null | undefined>(undefined);
  const [saved, setSaved] = useState<JupyterTarget | null>(null);
  const [current, setCurrent] = useState<Checked | null>(null);
  const [url, setUrl] = useState('');
  const [token, setToken] = useState('');
  const [status, setStatus] = useState<string>('');

  useEffect(() => {
    setSaved(savedTarget());
    labTarget(baseUrl).then(setLab);
  }, [baseUrl]);

  const active = saved ?? lab ?? null;

  // The server is called current only once it answered.
  useEffect(() => {
    if (!active) return setCurrent(null);
    let cancelled = false;
    setCurrent({ target: active, diagnosis: undefined });
    diagnose(active).then((d) => !cancelled && setCurrent({ target: active, diagnosis: d }));
    return () => {
      cancelled = true;
    };
  }, [active?.url, active?.token, active?.source]);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    let t: JupyterTarget;
    try {
      t = { url: normalizeUrl(url), token: token.trim() || tokenFromUrl(url) || '', source: 'reader' };
    } catch {
      setStatus(`not saved: "${url}" is not a URL`);
      return;
    }
    setStatus('checking…');
    const d = await diagnose(t);
    if (d) {
      setStatus(`not saved: ${diagnosisText(d)}`);
      return;
    }
    saveTarget(t.url, t.token);
    setSaved(savedTarget());
    setStatus(`saved: notebook pages will run cells on ${t.url}`);
  };

  return (
    <Layout title="Live mode" description="Run the notebooks' cells on your own Jupyter server">
      <main className="container margin-vert--lg" style={{ maxWidth: 800 }}>
        <Heading as="h1">Live mode</Heading>
        <p>
          Every <Link to="/notebooks/">notebook page</Link> shows the outputs recorded on a real Linux kernel. With a
          Jupyter server that has the lab's <code>tslab</code> notebook kernel, the code cells become editable and
          runnable: <strong>Run</strong>, <strong>Run to here</strong>, <strong>Run all</strong>,{' '}
          <strong>Restart &amp; run all</strong> and <strong>Interrupt</strong>, as in JupyterLab. A cell runs on your
          machine, through the Jupyter server, and its real output streams into the page; live tables fill in as events
          arrive. Your edits stay in this browser, and each edited cell has a <strong>Reset</strong> back to the
          original. Running cells attaches probes and starts processes, so it needs a privileged notebook kernel (root,
          or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN).
        </p>
        <p>
          <code>./lab start</code> starts that server on 127.0.0.1 and tells this site about it; the one-time link it
          prints lets the browser that opens it run cells for {accessDays} days, across browser restarts.{' '}
          <code>{openCommandLine}</code> prints a link for another browser (no restart: the notebook kernels keep what
          they defined), and <code>{openCommandLine} --revoke</code> shuts every browser out. To use another server (for
          example a lab started on another port), paste its URL and token below; they are kept in this browser only
          (localStorage). The server must allow this page's origin (<code>--ServerApp.allow_origin_pat</code> matching{' '}
          <code>http://127.0.0.1:PORT</code>).
        </p>
        <Heading as="h2">Current server</Heading>
        <div data-testid="live-current" data-answers={current ? String(current.diagnosis === null) : 'none'}>
          {!active && lab === undefined && <p>looking…</p>}
          {!active && lab === null && <p>none — the notebook pages show their recordings only</p>}
          {current && (
            <p>
              <code>{current.target.url}</code> ({describe(current.target)}):{' '}
              {current.diagnosis === undefined && 'checking that it answers…'}
              {current.diagnosis === null && <strong>answers — the notebook pages run their cells there</strong>}
              {current.diagnosis && (
                <>
                  <strong>not usable</strong>: {diagnosisText(current.diagnosis)}. The notebook pages show their
                  recordings until it is fixed.
                </>
              )}
            </p>
          )}
        </div>
        {saved && (
          <button
            type="button"
            className="button button--secondary button--sm margin-bottom--md"
            onClick={() => {
              forgetTarget();
              setSaved(null);
              setStatus('forgotten');
            }}
          >
            Forget the server set here{lab ? ' (use the lab’s own)' : ''}
          </button>
        )}
        <Heading as="h2">Use another server</Heading>
        <form onSubmit={onSubmit}>
          <div className="margin-bottom--sm">
            <label htmlFor="jupyter-url">Jupyter URL</label>
            <br />
            <input
              id="jupyter-url"
              type="url"
              required
              placeholder="http://127.0.0.1:8888/"
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              style={{ width: '100%' }}
            />
          </div>
          <div className="margin-bottom--sm">
            <label htmlFor="jupyter-token">Token (or leave empty when the URL has ?token=…)</label>
            <br />
            <input
              id="jupyter-token"
              type="password"
              autoComplete="off"
              value={token}
              onChange={(e) => setToken(e.target.value)}
              style={{ width: '100%' }}
            />
          </div>
          <button type="submit" className="button button--primary">
            Check and save
          </button>{' '}
          <span role="status">{status}</span>
        </form>
      </main>
    </Layout>
  );
}
