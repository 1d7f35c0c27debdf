# The reference for test/baseline.test.ts: scikit-learn's TfidfVectorizer(ngram_range=(1, 2),
# sublinear_tf=True) + LogisticRegression(C=1.0) on texts already cleaned and split by bert-lab.
#   python3 test/sklearn_baseline.py IN.json OUT.json
# IN: {"train_texts": [...], "train_labels": [...], "val_texts": [...], "val_labels": [...]}
# OUT: vocabulary, idf, a few TF-IDF rows, accuracy, positive-class F1, predictions, probabilities.
import json
import sys
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

src, dst = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    d = json.load(f)

t0 = time.perf_counter()
vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
X = vec.fit_transform(d["train_texts"])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ConvergenceWarning)
    clf = LogisticRegression(C=1.0).fit(X, d["train_labels"])
Xv = vec.transform(d["val_texts"])
pred = clf.predict(Xv)
seconds = time.perf_counter() - t0

rows = d.get("rows", [])
out = {
    "sklearn": __import__("sklearn").__version__,
    "vocabulary": vec.get_feature_names_out().tolist(),
    "idf": vec.idf_.tolist(),
    "rows": [{"indices": X[r].indices.tolist(), "data": X[r].data.tolist()} for r in rows],
    "accuracy": float(accuracy_score(d["val_labels"], pred)),
    "positive_f1": float(f1_score(d["val_labels"], pred)) if len(clf.classes_) == 2 else None,
    "macro_f1": float(f1_score(d["val_labels"], pred, average="macro")),
    "predictions": pred.tolist(),
    "probabilities": clf.predict_proba(Xv).tolist(),
    "n_iter": int(clf.n_iter_.max()),
    "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    "seconds": seconds,
}
with open(dst, "w", encoding="utf-8") as f:
    json.dump(out, f)
