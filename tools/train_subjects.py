"""Rebuild the two Media Topic classifiers the subject tagger reads, from labelled newswire:

    python -m tools.train_subjects --reuters ../shared/eval/reuters21578-dev.jsonl \\
        --agnews ../shared/eval/agnews-dev.jsonl

- ``economy.npz``: one logistic regression per economic topic (earnings, mergers, foreign
  exchange, commodities, oil and gas, trade, interest rates, …), trained on Reuters-21578
  stories and their editors' topics, mapped to Media Topics (the first accepted qcode).
- ``branches.npz``: complement naive Bayes on single words over the four branches of general
  news (world, sport, business, science and technology), trained on AG's news corpus
  (words alone: 0.871 against 0.859 with word pairs, 5-fold cross-validation on the training part).

Only the training part of each file is read (``tools.split``: the held-out 20 % never is).
scikit-learn is needed here only (``pip install -e '.[train]'``); tagging reads the weights
with NumPy. Deterministic: the same data gives the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from services.enrichment.taggers import textmodel
from tools.split import read

DATA = Path(__file__).resolve().parent.parent / "services" / "enrichment" / "taggers" / "data"
ECONOMY_FEATURES = 20_000
ECONOMY_C = 10.0
BRANCH_ALPHA = 0.3


def story_text(doc: dict) -> str:
    return f"{doc.get('headline') or ''}\n{doc['text']}"


def vectorizer(analyzer: str, max_features: int | None = None, min_df: int = 2):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=textmodel.ANALYZERS[analyzer], sublinear_tf=True, min_df=min_df, max_features=max_features
    )


def economy_labels(doc: dict) -> list[str]:
    return sorted({subject["accept"][0] for subject in doc.get("subjects", [])})


def train_economy(docs: list[dict], out: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    vec = vectorizer("terms", ECONOMY_FEATURES)
    x = vec.fit_transform([story_text(d) for d in docs])
    binarizer = MultiLabelBinarizer()
    y = binarizer.fit_transform([economy_labels(d) for d in docs])
    model = OneVsRestClassifier(LogisticRegression(C=ECONOMY_C, max_iter=2000, solver="liblinear")).fit(x, y)
    weights = np.vstack([e.coef_[0] for e in model.estimators_])
    bias = np.array([e.intercept_[0] for e in model.estimators_])
    textmodel.save(
        out,
        classes=list(binarizer.classes_),
        terms_list=list(vec.get_feature_names_out()),
        idf=vec.idf_,
        weights=weights,
        bias=bias,
        link="sigmoid",
        analyzer="terms",
    )
    print(f"{out}: {len(binarizer.classes_)} topics, {x.shape[1]} terms, {x.shape[0]} stories")


def fitted_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that best explains held-apart scores (log loss), by grid search;
    any per-row shift of the scores (log-probabilities or joint log-likelihoods) gives the same."""
    best, best_loss = 1.0, np.inf
    for t in np.geomspace(0.1, 100, 61):
        scaled = (scores - scores.max(axis=1, keepdims=True)) * t
        log_p = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(len(y)), y].mean()
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def train_branches(docs: list[dict], out: Path) -> None:
    from sklearn.model_selection import cross_val_predict
    from sklearn.naive_bayes import ComplementNB

    vec = vectorizer("words", min_df=1)
    x = vec.fit_transform([story_text(d) for d in docs])
    labels = [d["class"] for d in docs]
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    model = ComplementNB(alpha=BRANCH_ALPHA).fit(x, y)
    apart = cross_val_predict(ComplementNB(alpha=BRANCH_ALPHA), x, y, cv=5, method="predict_log_proba")
    textmodel.save(
        out,
        classes=classes,
        terms_list=list(vec.get_feature_names_out()),
        idf=vec.idf_,
        weights=model.feature_log_prob_,
        bias=np.zeros(len(classes)),
        link="softmax",
        temperature=fitted_temperature(apart, y),
        analyzer="words",
    )
    print(f"{out}: branches {classes}, {x.shape[1]} terms, {x.shape[0]} stories")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuters", type=Path, required=True, help="Reuters-21578 stories with mapped topics")
    parser.add_argument("--agnews", type=Path, required=True, help="AG news stories with their class")
    parser.add_argument("--out-dir", type=Path, default=DATA)
    args = parser.parse_args()
    train_economy(read(args.reuters, "train"), args.out_dir / "economy.npz")
    train_branches(read(args.agnews, "train"), args.out_dir / "branches.npz")


if __name__ == "__main__":
    main()
