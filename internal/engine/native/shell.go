package native

import "path"

// The bash tool's shell state. CMA's bash is a persistent shell: a cd, an export, a
// variable or a function of one call is there in the next. The loop gets that without a
// long-lived shell process: each call is a fresh `bash -c` that first sources the state
// file the previous call left (working directory, variables exported or not, arrays,
// functions, aliases) and saves the shell's state again on exit (an EXIT trap, so `exit`
// saves too). A call killed by its timeout loses only its own changes; restart deletes
// the file.
//
// Why not one bash process per run fed through stdin: the local provider runs every exec
// in its own bubblewrap with its own PID namespace, so nothing outside the shell could
// kill just the running command on a timeout (only the whole shell, and its state with
// it); a shell builtin loop (`while :; do :; done`) cannot be stopped without killing the
// shell either; and providers that deliver stdin only at close (provider
// Capabilities.BufferedStdin: Modal, remote sandboxes) cannot hold an interactive shell
// at all. What this does not keep: shell options (set -e, shopt), traps, and background
// jobs, which end with their call as they would with a closed terminal.

// shellScript runs "$2" with the state of file "$1". The variables a fresh shell starts
// with are saved only when exported (a changed PATH is kept, BASH_* and the like are not).
const shellScript = `__hangar_state=$1
__hangar_fresh=" $(compgen -v | tr '\n' ' ') "
shopt -s expand_aliases
if [ -f "$__hangar_state" ]; then . "$__hangar_state"; fi
__hangar_save() {
	local __hangar_status=$? __hangar_v
	mkdir -p -- "${__hangar_state%/*}" 2>/dev/null
	{
		printf 'cd -- %q 2>/dev/null\n' "$PWD"
		for __hangar_v in $(compgen -v); do
			case "$__hangar_v" in __hangar_*|PWD|OLDPWD|SHLVL|_|BASH*|FUNCNAME|GROUPS|PPID|UID|EUID|SHELLOPTS|RANDOM|SECONDS|LINENO|EPOCH*|SRANDOM|PIPESTATUS|HISTCMD|COMP_WORDBREAKS) continue ;; esac
			case "${!__hangar_v@a}" in *x*) ;; *) case "$__hangar_fresh" in *" $__hangar_v "*) continue ;; esac ;; esac
			declare -p "$__hangar_v" 2>/dev/null
		done
		for __hangar_v in $(compgen -A function); do
			case "$__hangar_v" in __hangar_*) ;; *) declare -f "$__hangar_v" ;; esac
		done
		alias -p
	} >"$__hangar_state.tmp" 2>/dev/null && mv -f -- "$__hangar_state.tmp" "$__hangar_state"
	return $__hangar_status
}
trap __hangar_save EXIT
eval "$2"
`

// statePath is the shell state file in the sandbox: under HOME, which persists with the
// sandbox (a session's shell state outlives its turns, as the sandbox does).
func (t *sandboxTools) statePath() string {
	dir := t.homeDir
	if dir == "" {
		dir = "/tmp"
	}
	return path.Join(dir, ".hangar", "bash-state")
}
