# Input and output formats shared by both inference variants.


def read_input(path):
    """name,red,green,blue lines; # starts a comment."""
    names, rgb = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, r, g, b = line.split(",")
            names.append(name)
            rgb.append([int(r), int(g), int(b)])
    return names, rgb


def write_result(path, variant, names, predictions):
    with open(path, "w") as f:
        for name, (label, prob) in zip(names, predictions):
            f.write(f"{name}: {label} ({prob:.3f})\n")
    print(f"infer ({variant}): classified {len(names)} colours; result written to {path} (encrypted)")
