"""File I/O and a subprocess under the shield."""
import json
import os
import subprocess
import sys

os.makedirs("/data", exist_ok=True)
with open("/data/result.json", "w") as f:
    json.dump({"squares": [i * i for i in range(10)]}, f)
with open("/data/result.json") as f:
    data = json.load(f)
print("sum of squares:", sum(data["squares"]))

out = subprocess.run(["/usr/bin/sh", "-c", "echo child says hi; exit 3"],
                     capture_output=True, text=True)
print("subprocess:", out.stdout.strip(), "status", out.returncode)
print("python", sys.version.split()[0], "pid", os.getpid(), "uid", os.getuid())

# Encrypted mount: the input was encrypted offline with `nacre pf encrypt`;
# the result is written encrypted, the host never sees plaintext.
with open("/enc/input.txt") as f:
    words = f.read().split()
with open("/enc/result.txt", "w") as f:
    f.write("words=%d longest=%s\n" % (len(words), max(words, key=len)))
print("encrypted input read:", len(words), "words")
