# The confidential application: it reads its input from the encrypted mount
# /secrets (readable only with the key the secret server released after
# attestation) and writes its result there, encrypted with the same key.
import sys

with open("/secrets/input.txt") as f:
    numbers = [int(x) for x in f.read().split()]

result = f"count={len(numbers)} sum={sum(numbers)} sum_of_squares={sum(n * n for n in numbers)}\n"
with open("/secrets/result.txt", "w") as f:
    f.write(result)

print(f"app: processed {len(numbers)} secret numbers; result written to /secrets/result.txt (encrypted)")
sys.exit(0)
