# verify's target: what the probes ping; with --perf it serves iperf3 and HTTP. It lives until verify
# deletes it, at most LIFETIME seconds should verify itself be killed.
set -u
if [ "$PERF" = "1" ]; then
  if command -v iperf3 >/dev/null 2>&1; then iperf3 -s -p "$IPERF_PORT" >/dev/null 2>&1 & fi
  mkdir -p /tmp/www && echo ok >/tmp/www/index.html
  if busybox httpd --help >/dev/null 2>&1; then busybox httpd -f -p "$HTTP_PORT" -h /tmp/www &
  elif command -v httpd >/dev/null 2>&1; then httpd -f -p "$HTTP_PORT" -h /tmp/www &
  elif command -v python3 >/dev/null 2>&1; then (cd /tmp/www && python3 -m http.server "$HTTP_PORT" >/dev/null 2>&1) &
  fi
fi
exec sleep "$LIFETIME"
