import Layout from '@theme/Layout';
import Heading from '@theme/Heading';
import Link from '@docusaurus/Link';
import type { NotebookView } from '../lib/notebook';
import styles from './NotebookView/styles.module.css';

type Entry = Pick<NotebookView, 'slug' | 'title' | 'summary' | 'recording' | 'file'>;

export default function NotebookIndex({ notebooks }: { notebooks: Entry[] }) {
  return (
    <Layout title="Notebooks" description="The lab's notebooks with their recorded outputs">
      <main className="container margin-vert--lg">
        <Heading as="h1">Notebooks</Heading>
        <p>
          The story, one TypeScript notebook per step, each cell calling the lab's kernel helpers on a real kernel.
          Every page shows the outputs recorded when the notebook last ran; with the lab running (
          <code>./lab start</code>) each cell gets a Run button. See <Link to="/live/">Live mode</Link>.
        </p>
        {notebooks.length === 0 ? (
          <div className="alert alert--info" role="note" data-testid="no-notebooks">
            No notebooks have been recorded yet: <code>notebooks/</code> holds no <code>.ipynb</code> file. They appear
            here at the next <code>./lab build</code> after one is written.
          </div>
        ) : (
          <ul className={styles.list}>
            {notebooks.map((nb) => (
              <li key={nb.slug}>
                <Link to={`/notebooks/${nb.slug}/`}>
                  <strong>{nb.title}</strong>
                </Link>{' '}
                <small>
                  ({nb.file}
                  {nb.recording?.recordedAt && <>, recorded {nb.recording.recordedAt.slice(0, 10)}</>})
                </small>
                {nb.summary && <div>{nb.summary}</div>}
              </li>
            ))}
          </ul>
        )}
      </main>
    </Layout>
  );
}
