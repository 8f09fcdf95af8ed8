# Inference inside the shield (PyTorch variant), as in Gramine's PyTorch
# tutorial: model and input from the encrypted mount /secrets (key
# provisioned after attestation), result written back encrypted.
import torch

from common import read_input, write_result

torch.set_num_threads(1)
saved = torch.load("/secrets/model.pt", weights_only=True)
labels = saved["labels"]
model = torch.nn.Sequential(torch.nn.Linear(3, saved["hidden"]), torch.nn.Tanh(), torch.nn.Linear(saved["hidden"], len(labels)))
model.load_state_dict(saved["state"])
model.eval()
names, rgb = read_input("/secrets/input.csv")
with torch.no_grad():
    p = torch.softmax(model(torch.tensor(rgb, dtype=torch.float32) / 255.0), dim=1)
best = p.argmax(dim=1)
write_result("/secrets/result.txt", "torch", names, [(labels[int(i)], float(p[k, i])) for k, i in enumerate(best)])
