# Inference inside the shield (numpy variant). The model and the input come
# from the encrypted mount /secrets, whose key nacre run obtained from the
# owner's secret server after attestation; the result goes back there,
# encrypted with the same key.
import numpy as np

from common import read_input, write_result

model = np.load("/secrets/model.npz", allow_pickle=False)
names, rgb = read_input("/secrets/input.csv")
h = np.tanh((np.array(rgb, dtype=float) / 255.0) @ model["w1"] + model["b1"])
z = h @ model["w2"] + model["b2"]
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
labels = [str(s) for s in model["labels"]]
write_result("/secrets/result.txt", "numpy", names, [(labels[i], float(p[k, i])) for k, i in enumerate(p.argmax(axis=1))])
