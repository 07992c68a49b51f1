import { useEffect, useState, type FormEvent } from 'react';
import Layout from '@theme/Layout';
import Heading from '@theme/Heading';
import Link from '@docusaurus/Link';
import useBaseUrl from '@docusaurus/useBaseUrl';
import {
  checkTarget,
  forgetTarget,
  labTarget,
  normalizeUrl,
  saveTarget,
  savedTarget,
  tokenFromUrl,
  type JupyterTarget,
} from '../lib/live';

export default function LiveMode() {
  const baseUrl = useBaseUrl('/');
  const [lab, setLab] = useState<JupyterTarget | null | undefined>(undefined);
  const [saved, setSaved] = useState<JupyterTarget | null>(null);
  const [url, setUrl] = useState('');
  const [token, setToken] = useState('');
  const [status, setStatus] = useState<string>('');

  useEffect(() => {
    setSaved(savedTarget());
    labTarget(baseUrl).then(setLab);
  }, [baseUrl]);

  const active = saved ?? lab ?? null;

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const t: JupyterTarget = { url: normalizeUrl(url), token: token.trim() || tokenFromUrl(url) || '', source: 'reader' };
      setStatus('checking…');
      await checkTarget(t);
      saveTarget(t.url, t.token);
      setSaved(savedTarget());
      setStatus(`saved: notebook pages will run cells on ${t.url}`);
    } catch (err) {
      setStatus(`not saved: ${(err as Error).message}`);
    }
  };

  return (
    <Layout title="Live mode" description="Run the notebooks' cells on your own Jupyter server">
      <main className="container margin-vert--lg" style={{ maxWidth: 800 }}>
        <Heading as="h1">Live mode</Heading>
        <p>
          Every <Link to="/notebooks/">notebook page</Link> shows the outputs recorded on a real kernel. With a Jupyter server
          that has the lab's <code>tslab</code> kernel, each code cell also gets a <strong>Run</strong> button: the cell runs
          on your machine, through the Jupyter server, and its real output streams into the page. Running cells attaches
          probes and starts processes, so it needs a privileged kernel (root, or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN).
        </p>
        <p>
          <code>./lab start</code> starts that server on 127.0.0.1 with a fresh token and tells this site about it — nothing to
          do. To use another server (for example a lab started on another port), paste its URL and token below; they are kept
          in this browser only (localStorage). The server must allow this page's origin (
          <code>--ServerApp.allow_origin_pat</code> matching <code>http://127.0.0.1:PORT</code>).
        </p>
        <Heading as="h2">Current server</Heading>
        <p data-testid="live-current">
          {active ? (
            <>
              <code>{active.url}</code> ({active.source === 'reader' ? 'set here' : 'announced by ./lab start'})
            </>
          ) : lab === undefined ? (
            'looking…'
          ) : (
            'none — the notebook pages show their recordings only'
          )}
        </p>
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
