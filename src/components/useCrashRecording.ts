import { useMemo } from 'react';
import useDocusaurusContext from '@docusaurus/useDocusaurusContext';
import { useLabData, type CrashRecording } from '../lib/data';
import { relativePaths } from '../../model/notebook-format.ts';

/** The recorded crash, its paths shown relative to the checkout and $GOROOT. */
export function useCrashRecording(): CrashRecording | null {
  const { crashRecording } = useLabData();
  const repoRoot = useDocusaurusContext().siteConfig.customFields?.repoRoot as string | undefined;
  return useMemo(
    () =>
      crashRecording && {
        ...crashRecording,
        stderr: relativePaths(crashRecording.stderr, repoRoot),
        maps: relativePaths(crashRecording.maps, repoRoot),
      },
    [crashRecording, repoRoot],
  );
}
