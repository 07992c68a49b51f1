import type { SidebarsConfig } from '@docusaurus/plugin-content-docs';

const sidebars: SidebarsConfig = {
  story: [
    'intro',
    // Before the story: the eBPF words a Go developer meets on every page, and where each is defined.
    'primer',
    'glossary',
    {
      type: 'category',
      label: 'Go stacks',
      link: { type: 'doc', id: 'go-stacks/index' },
      items: ['go-stacks/growth', 'go-stacks/unwinding'],
    },
    {
      type: 'category',
      label: 'Uprobes and uretprobes',
      link: { type: 'doc', id: 'uprobes/index' },
      items: ['uprobes/uretprobes', 'uprobes/uretprobe-syscall'],
    },
    {
      type: 'category',
      label: 'The crash',
      link: { type: 'doc', id: 'crash/index' },
      items: ['crash/signatures', 'crash/quiet-damage', 'crash/matrix'],
    },
    {
      type: 'category',
      label: 'Tracing Go safely',
      link: { type: 'doc', id: 'safe-tracing/index' },
      items: [
        'safe-tracing/bpf-programs',
        'safe-tracing/pairing',
        'safe-tracing/edge-cases',
        'safe-tracing/floats',
        'safe-tracing/overhead',
      ],
    },
    'workshop',
    'troubleshooting',
    'references',
  ],
};

export default sidebars;
