"""The toy task shared by both variants: name the colour of an RGB triple.

The training set is generated here from a fixed seed, so the example needs no
download and builds the same model everywhere.
"""
LABELS = ["red", "green", "blue", "yellow", "black", "white"]
CENTRES = [(230, 30, 30), (30, 200, 40), (30, 40, 220), (240, 220, 30), (15, 15, 15), (240, 240, 240)]
SAMPLES_PER_CLASS = 300
NOISE = 25.0
HIDDEN = 16
SEED = 1234
