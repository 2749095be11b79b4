/**
 * Node names in shell completion. @oclif/plugin-autocomplete (v3) completes commands and flag names
 * from the manifest but has no dynamic values, so after it writes its bash and zsh functions the
 * postrun hook (hooks/completion.ts) adds a wrapper in front of them: the value of a node-valued
 * flag (--limit, comma lists too) and a command's <node> argument (`lab exec`, `node remove`, …)
 * complete from `flanctl node-names` (the inventory's nodes, or the lab's for `lab` commands);
 * everything else goes to oclif's function unchanged. -i/--inventory and -d/--dir on the command
 * line are passed through.
 */

/** Flags whose value is one node name or a comma-separated list of them. */
export const NODE_VALUED_FLAGS = ['limit'];

/** A command whose first argument is a node name: its words ("lab exec") and where its nodes are. */
export interface NodeArgCommand {
  words: string[];
  /** true: the lab's nodes (<dir>/inventory.yaml); false: the inventory's. */
  lab: boolean;
}

interface CommandLike {
  id?: string;
  args?: Record<string, { name?: string }>;
  flags?: Record<string, { name?: string; char?: string; type?: string }>;
}

/** Commands whose first argument is `node` (or `name` in the `node` topic); `lab` commands use the lab's nodes. */
export function nodeArgCommands(commands: CommandLike[]): NodeArgCommand[] {
  return commands
    .filter((c) => c.id && (Object.keys(c.args ?? {})[0] === 'node' || (c.id.startsWith('node:') && Object.keys(c.args ?? {})[0] === 'name')))
    .map((c) => ({ words: c.id!.split(':'), lab: c.id!.startsWith('lab:') }))
    .sort((a, b) => a.words.join(' ').localeCompare(b.words.join(' ')));
}

export const MARK = '# --- flanctl: node-name completion (added by flanctl after oclif wrote the lines above) ---';

/** The spellings of the node-valued flags among the commands' flags: ["--limit", "-l"]. */
export function nodeFlagSpellings(commands: CommandLike[]): string[] {
  const out = new Set(NODE_VALUED_FLAGS.map((n) => `--${n}`));
  for (const c of commands) {
    for (const [name, f] of Object.entries(c.flags ?? {})) if (NODE_VALUED_FLAGS.includes(f.name ?? name) && f.char) out.add(`-${f.char}`);
  }
  return [...out].sort();
}

const passThrough = (words: string, first: string) => `
  local -a args; local i w
  for (( i = ${first}; i < \${#${words}}; i++ )); do
    w=\${${words}[i]}
    case $w in
      -i|--inventory|-d|--dir) if [[ \${${words}[i+1]} == = ]]; then args+=("$w" "\${${words}[i+2]}"); else args+=("$w" "\${${words}[i+1]}"); fi ;;
      --inventory=*|--dir=*) args+=("$w") ;;
    esac
  done`;

/** Shell `case` arms that set `first` (index of the command's first argument) and `src` (node-names option). */
function argCases(cmds: NodeArgCommand[], joined: (depth: number) => string, base: number): string {
  const depths = [...new Set(cmds.map((c) => c.words.length))].sort();
  return depths
    .map((d) => {
      const arms = cmds.filter((c) => c.words.length === d).map((c) => `    "${c.words.join(' ')}") first=${base + d}; src=${c.lab ? '--lab' : '--inventory-nodes'} ;;`);
      return `  case "${joined(d)}" in\n${arms.join('\n')}\n  esac`;
    })
    .join('\n');
}

/** Appended to oclif's bash function file; takes over `complete -F` for the bin. */
export function bashNodeCompletion(bin: string, flags: string[], cmds: NodeArgCommand[] = []): string {
  const fn = `_${bin.replace(/\W/g, '_')}`;
  return `
${MARK}
${fn}_node_names() {${passThrough('COMP_WORDS', '1')}
  ${bin} node-names "$@" "\${args[@]}" 2>/dev/null
}

${fn}_nodes_autocomplete() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} flag first= src=
  flag=$prev
  if [[ $prev == = && $COMP_CWORD -ge 2 ]]; then flag=\${COMP_WORDS[COMP_CWORD-2]}; fi
  if [[ $cur == = ]]; then flag=$prev; cur=; fi
  case $flag in
    ${flags.join('|')})
      local done=
      [[ $cur == *,* ]] && done=\${cur%,*},
      COMPREPLY=($(compgen -P "$done" -W "$(${fn}_node_names)" -- "\${cur##*,}"))
      return ;;
  esac
${argCases(cmds, (d) => `\${COMP_WORDS[*]:1:${d}}`, 1)}
  if [[ -n $first ]]; then
    local i n=0
    for (( i = first; i < COMP_CWORD; i++ )); do
      case \${COMP_WORDS[i]} in
        --) n=1; break ;;
        -d|--dir|-i|--inventory|=) (( i++ )) ;;
        -*) ;;
        *) (( n++ )) ;;
      esac
    done
    if (( n == 0 )) && [[ $cur != -* ]]; then
      [[ $src == --lab ]] || src=
      COMPREPLY=($(compgen -W "$(${fn}_node_names $src)" -- "$cur"))
      return
    fi
  fi
  ${fn}_autocomplete
}
complete -F ${fn}_nodes_autocomplete ${bin}
`;
}

/**
 * oclif's zsh file defines and then calls `_<bin>`: rename its definition to `_<bin>_oclif` and put
 * a `_<bin>` in front that completes node names and otherwise calls oclif's. Idempotent.
 */
export function zshNodeCompletion(oclifScript: string, bin: string, flags: string[], cmds: NodeArgCommand[] = []): string {
  const fn = `_${bin.replace(/\W/g, '_')}`;
  if (oclifScript.includes(MARK)) return oclifScript;
  const def = new RegExp(`^${fn}\\s*\\(\\)\\s*\\{`, 'm');
  const call = new RegExp(`^${fn}\\s*$`, 'm');
  if (!def.test(oclifScript) || !call.test(oclifScript)) return oclifScript; // an unknown layout: leave oclif's alone
  const wrapper = `${MARK}
${fn}_node_names() {${passThrough('words', '2').replace('i < ${#words}', 'i <= ${#words}')}
  ${bin} node-names "$@" "\${args[@]}" 2>/dev/null
}

${fn}() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]} first= src=
  local -a names
  if [[ $cur == (${flags.join('|')})=* ]]; then
    compset -P '*='; compset -P '*,'
    names=(\${(f)"$(${fn}_node_names)"}); compadd -S '' -- $names; return
  fi
  case $prev in
    ${flags.join('|')})
      compset -P '*,'
      names=(\${(f)"$(${fn}_node_names)"}); compadd -S '' -- $names; return ;;
  esac
${argCases(cmds, (d) => `\${(j: :)words[2,${d + 1}]}`, 2)}
  if [[ -n $first ]]; then
    local i n=0
    for (( i = first; i < CURRENT; i++ )); do
      case \${words[i]} in
        --) n=1; break ;;
        -d|--dir|-i|--inventory) (( i++ )) ;;
        -*) ;;
        *) (( n++ )) ;;
      esac
    done
    if (( n == 0 )) && [[ $cur != -* ]]; then
      [[ $src == --lab ]] || src=
      names=(\${(f)"$(${fn}_node_names $src)"}); compadd -- $names; return
    fi
  fi
  ${fn}_oclif "$@"
}
`;
  return oclifScript.replace(def, `${fn}_oclif () {`).replace(call, `${wrapper}\n${fn}`);
}
