import Link from '@docusaurus/Link';
import Layout from '@theme/Layout';
import Heading from '@theme/Heading';
import { useLabData } from '../lib/data';
import { privileges } from '../components/Privileges';
import styles from './index.module.css';

const chapters = [
  {
    to: '/docs/go-stacks/',
    title: 'Go stacks',
    text: 'Small goroutine stacks that move, and a runtime that must walk every frame.',
  },
  {
    to: '/docs/uprobes/',
    title: 'Uprobes & uretprobes',
    text: 'int3 at a function, and the return address the kernel swaps for 0x7fffffffe000.',
  },
  {
    to: '/docs/crash/',
    title: 'The crash',
    text: 'Step through a recorded crash; two signatures; the quiet damage; the crash matrix.',
  },
  {
    to: '/docs/safe-tracing/',
    title: 'Tracing Go safely',
    text: 'A uprobe on every RET, paired per goroutine — and what it costs.',
  },
];

export default function Home() {
  const { crashRecording: rec } = useLabData();
  const lines = rec?.stderr.split('\n') ?? [];
  const signature = lines.find((l) => l.includes('unexpected return pc'));
  const fatal = lines.find((l) => l.startsWith('fatal error:'));
  return (
    <Layout title="Home" description="Why uretprobes crash Go programs and how to trace Go safely with eBPF">
      <header className={styles.hero}>
        <div className="container">
          <Heading as="h1">The Go uretprobe lab</Heading>
          <p className={styles.tagline}>
            Why a return probe kills a Go program — and how to trace Go functions safely with eBPF, on a real Linux
            kernel.
          </p>
          {signature && (
            // biome-ignore lint/a11y/useSemanticElements: a <pre> keeps the crash text's layout
            <pre className={styles.signature} role="figure" aria-label="recorded crash">
              {signature}
              {fatal && `\n${fatal}`}
            </pre>
          )}
          {rec && (
            <p className={styles.recorded}>
              ↑ recorded on Linux {rec.kernel} with {rec.goVersion}, one request after attaching a uretprobe to{' '}
              {rec.symbol}.
            </p>
          )}
          <div className={styles.buttons}>
            <Link className="button button--primary button--lg" to="/docs/intro/">
              Start reading
            </Link>
            <Link className="button button--secondary button--lg" to="/notebooks/">
              Open the notebooks
            </Link>
          </div>
        </div>
      </header>
      <main className="container margin-vert--lg">
        <div className="row">
          {chapters.map((c) => (
            <div key={c.to} className="col col--3 margin-bottom--md">
              <Link to={c.to} className={styles.card}>
                <Heading as="h2">{c.title}</Heading>
                <p>{c.text}</p>
              </Link>
            </div>
          ))}
        </div>
        <section className="margin-top--lg">
          <Heading as="h2">Run it yourself</Heading>
          <pre>
            ./lab start{'   '}# install what is missing, build, start the site + Jupyter, print the URLs{'\n'}
            ./lab test{'    '}# every test, on the real kernel
          </pre>
          <p>
            Needs {privileges} on Linux with BTF and uprobes — see{' '}
            <Link to="/docs/intro/">what a privileged kernel means</Link>. Without one, every page here shows what the
            lab recorded.
          </p>
        </section>
      </main>
    </Layout>
  );
}
