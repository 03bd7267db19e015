"""Writes scikit-learn's breast-cancer set (569 tumours, 30 measurements, malignant or benign) as
pandas writes a table, for `nn train --data csv:... --target diagnosis`: `to_csv` with its default
options, so the row index comes first under no name, and the labels are the words.

- cancer-train.csv: 75% of the rows (stratified, seed 0);
- cancer-test.csv: the other 25%, its columns in another order;
- cancer-new.tsv: the test rows without their diagnosis, tab-separated, to predict.

Usage: python breast_cancer_csv.py [OUT_DIR]  (needs pandas and scikit-learn)
"""
import os
import sys

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

out = sys.argv[1] if len(sys.argv) > 1 else "."
frame = load_breast_cancer(as_frame=True).frame
frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=frame["diagnosis"])
shuffled = test[list(reversed(test.columns))]
train.to_csv(os.path.join(out, "cancer-train.csv"))
shuffled.to_csv(os.path.join(out, "cancer-test.csv"))
shuffled.drop(columns=["diagnosis"]).to_csv(os.path.join(out, "cancer-new.tsv"), sep="\t")
print(f"cancer-train.csv: {len(train)} rows; cancer-test.csv and cancer-new.tsv: {len(test)} rows")
