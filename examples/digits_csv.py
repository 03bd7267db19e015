"""Writes scikit-learn's handwritten digits (1797 8x8 images, 10 classes) as two CSV files
for `nn train --data csv:...`: digits-train.csv (first 1500 rows) and digits-test.csv (the
last 297, written by other people). Usage: python digits_csv.py [OUT_DIR]  (needs scikit-learn)
"""
import os
import sys

from sklearn.datasets import load_digits

out = sys.argv[1] if len(sys.argv) > 1 else "."
digits = load_digits()
header = ",".join(["label"] + [f"p{i}" for i in range(64)]) + "\n"
rows = [
    ",".join([str(int(y))] + [str(int(v)) for v in x]) + "\n"
    for x, y in zip(digits.data, digits.target)
]
for name, part in [("digits-train.csv", rows[:1500]), ("digits-test.csv", rows[1500:])]:
    with open(os.path.join(out, name), "w") as f:
        f.write(header + "".join(part))
    print(f"{name}: {len(part)} rows")
