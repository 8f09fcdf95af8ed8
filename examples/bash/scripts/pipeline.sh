#!/usr/bin/bash
# Exercises fork/exec, pipes, subshells, redirections and wait under the shield.
set -euo pipefail

echo "pipeline: $(seq 1 1000 | grep -c 7) numbers contain a 7"
seq 1 50 | tr '\n' ' ' | wc -w | sed 's/^/words: /'
printf 'c\nb\na\n' | sort | paste -sd, -
for i in $(seq 1 100); do /usr/bin/true; done
echo "100 fork+exec done"
( sleep 0.1; echo "background job done" ) &
wait
echo "tmp is writable" > /tmp/x && cat /tmp/x
echo "uid=$(id -u) pwd=$(pwd)"
