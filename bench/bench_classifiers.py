"""Throughput of the shipped classifiers (a benchmark, not a test: no assertions).

    python bench/bench_classifiers.py [--n 20000] [--batch 200] [--repeat 3] [--model PATH]

Prints texts/s for ``score()`` in batches of 200 (both judgements, with reasons; with its
semantic MiniLM half and, measured in the same run, without it) and for
``hurtful()`` alone (the reply gate), plus the same for a plain baseline measured in the
same run on the same texts (stock ``TfidfVectorizer`` word 1-2 + char_wb 2-5 and a
logistic regression), so numbers from a busy shared machine can still be compared.
The texts are synthetic but varied (unique, tweet-length, with handles, links, emoji,
hashtags and typos), so per-token caches only help as much as they would on a real stream.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from collections.abc import Callable, Sequence

WORDS = (
    "my order never arrived refund charged twice app crashes login password account locked "
    "love thanks great awesome worst service ever waiting hours support help please why "
    "internet down outage again today tomorrow delivery parcel driver store staff phone "
    "battery screen broken update bug fix feature dark mode price bill invoice cancel "
    "subscription game server music playlist flight delayed bag lost hotel room coffee "
    "pizza cold late idiot stupid awful amazing happy sad funny lol omg wtf seriously "
    "the a an to of in on for with at by from is was are be it this that you we they i"
).split()
EXTRAS = [
    "@acmecorp",
    "@AcmeSupport",
    "http://t.co/x1y2",
    "#fail",
    "#love",
    "😡",
    "😂",
    "🙏",
    "!!!",
    "?",
    "sooo",
    "NOW",
    "12345",
]


def synthetic(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 30))]
        for _ in range(rng.randint(0, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRAS))
        # a per-text typo keeps texts unique and adds unseen tokens like a real stream
        k = rng.randrange(len(words))
        words[k] = words[k] + rng.choice("aeiouxyz") + str(i % 97)
        texts.append(" ".join(words))
    return texts


def rate(fn: Callable[[Sequence[str]], object], texts: list[str], batch: int, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            fn(texts[i : i + batch])
        best = max(best, len(texts) / (time.perf_counter() - start))
    return best


def baseline(train: list[str]) -> Callable[[Sequence[str]], object]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    pipe = Pipeline(
        [
            (
                "tfidf",
                FeatureUnion(
                    [
                        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
                        (
                            "char",
                            TfidfVectorizer(
                                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                            ),
                        ),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    labels = [int(("refund" in t) or ("down" in t)) for t in train]
    pipe.fit(train, labels)
    return pipe.predict_proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", help="an artifact to measure instead of the shipped one")
    args = parser.parse_args()

    import classifiers

    model = classifiers.load(args.model) if args.model else classifiers.load_default()
    texts = synthetic(args.n)
    base = baseline(synthetic(5_000, seed=1))
    score = rate(model.score, texts, args.batch, args.repeat)
    linear = copy.copy(model)  # the same model without its semantic (MiniLM) half
    linear.semantic = None
    score_linear = rate(linear.score, texts, args.batch, args.repeat)
    gate = rate(model.hurtful, texts, args.batch, args.repeat)
    plain = rate(base, texts, args.batch, args.repeat)
    gate_big = rate(model.hurtful, texts, 2_000, args.repeat)
    print(f"texts: {len(texts)} synthetic, batch {args.batch}, best of {args.repeat}")
    for name, value in (
        ("score()   both judgements + reasons", score),
        ("score()   linear half only", score_linear),
        ("hurtful() gate alone", gate),
        ("hurtful() gate, batch 2000", gate_big),
    ):
        print(f"{name:<37}: {value:>9,.0f} texts/s  ({value / plain:.2f}x baseline)")
    print(f"{'baseline stock tf-idf word+char LR':<37}: {plain:>9,.0f} texts/s")
    print(f"the semantic half costs score() {score_linear / score:.2f}x the linear-only time")
    print("targets on a dedicated 2-core machine: score >= 2,000/s with the semantic half, "
          "hurtful >= 50,000/s")


if __name__ == "__main__":
    main()
