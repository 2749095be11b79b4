/**
 * Node names in shell completion. @oclif/plugin-autocomplete (v3) completes commands and flag names
 * from the manifest but has no dynamic values, so after it writes its bash and zsh functions the
 * postrun hook (hooks/completion.ts) adds a wrapper in front of them: the value of a node-valued
 * flag (--limit, comma lists too) and the <node> argument of `lab exec` complete from
 * `flanctl node-names` (the inventory's, or the lab's, nodes); everything else goes to oclif's
 * function unchanged. -i/--inventory and -d/--dir on the command line are passed through.
 */

/** Flags whose value is one node name or a comma-separated list of them. */
export const NODE_VALUED_FLAGS = ['limit'];

/** Commands whose first argument is a lab node (read from the lab's inventory). */
export const LAB_NODE_ARG_COMMANDS = [['lab', 'exec']];

export const MARK = '# --- flanctl: node-name completion (added by flanctl after oclif wrote the lines above) ---';

/** The spellings of the node-valued flags among the commands' flags: ["--limit", "-l"]. */
export function nodeFlagSpellings(commands: { flags?: Record<string, { name?: string; char?: string; type?: string }> }[]): string[] {
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

/** Appended to oclif's bash function file; takes over `complete -F` for the bin. */
export function bashNodeCompletion(bin: string, flags: string[]): string {
  const fn = `_${bin.replace(/\W/g, '_')}`;
  const lab = LAB_NODE_ARG_COMMANDS.map((c) => `"${c.join(' ')}"`).join('|');
  return `
${MARK}
${fn}_node_names() {${passThrough('COMP_WORDS', '1')}
  ${bin} node-names "$@" "\${args[@]}" 2>/dev/null
}

${fn}_nodes_autocomplete() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} flag
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
  case "\${COMP_WORDS[1]} \${COMP_WORDS[2]}" in
    ${lab})
      local i n=0
      for (( i = 3; i < COMP_CWORD; i++ )); do
        case \${COMP_WORDS[i]} in
          --) return ;;
          -d|--dir|-i|--inventory) (( i++ )) ;;
          =) (( i++ )) ;;
          -*) ;;
          *) (( n++ )) ;;
        esac
      done
      if (( n == 0 )) && [[ $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$(${fn}_node_names --lab)" -- "$cur"))
        return
      fi ;;
  esac
  ${fn}_autocomplete
}
complete -F ${fn}_nodes_autocomplete ${bin}
`;
}

/**
 * oclif's zsh file defines and then calls `_<bin>`: rename its definition to `_<bin>_oclif` and put
 * a `_<bin>` in front that completes node names and otherwise calls oclif's. Idempotent.
 */
export function zshNodeCompletion(oclifScript: string, bin: string, flags: string[]): string {
  const fn = `_${bin.replace(/\W/g, '_')}`;
  if (oclifScript.includes(MARK)) return oclifScript;
  const def = new RegExp(`^${fn}\\s*\\(\\)\\s*\\{`, 'm');
  const call = new RegExp(`^${fn}\\s*$`, 'm');
  if (!def.test(oclifScript) || !call.test(oclifScript)) return oclifScript; // an unknown layout: leave oclif's alone
  const labCases = LAB_NODE_ARG_COMMANDS.map((c) => `"${c.join(' ')}"`).join('|');
  const wrapper = `${MARK}
${fn}_node_names() {${passThrough('words', '2').replace('i < ${#words}', 'i <= ${#words}')}
  ${bin} node-names "$@" "\${args[@]}" 2>/dev/null
}

${fn}() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
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
  case "\${words[2]} \${words[3]}" in
    ${labCases})
      local i n=0
      for (( i = 4; i < CURRENT; i++ )); do
        case \${words[i]} in
          --) n=1; break ;;
          -d|--dir|-i|--inventory) (( i++ )) ;;
          -*) ;;
          *) (( n++ )) ;;
        esac
      done
      if (( n == 0 )) && [[ $cur != -* ]]; then
        names=(\${(f)"$(${fn}_node_names --lab)"}); compadd -- $names; return
      fi ;;
  esac
  ${fn}_oclif "$@"
}
`;
  return oclifScript.replace(def, `${fn}_oclif () {`).replace(call, `${wrapper}\n${fn}`);
}
