# Sourced by the scripts that talk to a running `backprop serve` (test-browser, test-api,
# bench-serve).
#
# `use_built_backprop` sets `backprop` to the binary scripts/test built and names in
# BACKPROP_BINARY, or, when a script runs alone, builds one.
use_built_backprop() {
  if [ -n "${BACKPROP_BINARY:-}" ]; then backprop=$BACKPROP_BINARY; return; fi
  swift build -c release --product backprop
  backprop=.build/release/backprop
}

# `serve_in_background LOG ARGUMENT...` starts `$backprop serve --port 0 ARGUMENT...`
# (a free port) with its output in LOG, stops it when the script exits, and sets `server` (its
# process id) and `url` (the address it printed); if it prints none within 10 s, or stops, the
# log is shown and the script exits 1.
serve_in_background() {
  local log="$1"; shift
  "$backprop" serve --port 0 "$@" > "$log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  url=""
  for _ in $(seq 1 100); do
    url=$(grep -o 'http://[^ ]*' "$log" | head -1 || true)
    [ -n "$url" ] && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  echo "$0: backprop serve printed no address" >&2
  cat "$log" >&2
  exit 1
}
