"""Auditing the silence: a share of what the model silenced reaches a person, who says
whether support could have helped; the label lands once per mention on `feedback`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.audit import Sampler, sampled
from router.settings import Settings
from vocab.records import Author, Decision, Mention

from .stream import RouterProcess, encode, key_of, mention, running


def silent(ref_id: str, first_reason: str) -> Decision:
    m = Mention(id=ref_id, network="generic", text="nice ad", created_at="t",
                author=Author(id="u1", handle="ann"))
    return Decision(mention=m, verdict="silent", scores={"actionable": 0.1},
                    reasons=[first_reason])


def test_only_the_models_silences_are_sampled_the_same_way_every_time_and_capped() -> None:
    settings = Settings(audit_share=1.0, audit_per_hour=2)
    sampler = Sampler(lambda: settings)
    now = 1_800_000_000.0
    assert sampler.take(silent("a", "never a ticket: a repost"), now) is None  # a rule's
    assert sampler.take(silent("b", "exact duplicate of generic:a"), now) is None
    first = sampler.take(silent("c", "not actionable: 0.10 < 0.52"), now)
    assert first is not None and first.mention.ref == "generic:c"
    assert sampler.take(silent("d", "hurtful (0.91) and nothing support can do"), now)
    assert sampler.take(silent("e", "not actionable: 0.10 < 0.52"), now) is None  # the cap
    assert sampler.take(silent("e", "not actionable: 0.10 < 0.52"), now + 3600) is not None
    # about the configured share, and the same mentions whatever the run
    picks = [sampled(f"generic:{i}", 0.01) for i in range(20_000)]
    assert 150 <= sum(picks) <= 250
    assert picks == [sampled(f"generic:{i}", 0.01) for i in range(20_000)]
    assert not any(sampled(f"generic:{i}", 0.0) for i in range(1000))


@pytest.mark.kafka
def test_a_silenced_mention_is_audited_labelled_once_and_leaves_the_queue(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path, extra_env={
        "ROUTER_AUDIT_SHARE": "1", "ROUTER_OWN_ACCOUNTS": "acmecorp"})
    posts = [mention("p1", "Love the new ad campaign, the music is great"),
             mention("p2", "Our spring sale starts today!", handle="acmecorp"),
             mention("p3", "I was charged twice for my order, please refund me"),
             mention("p4", "What a beautiful sunset over the bay tonight", handle="bob")]
    with running(rp):
        rp.produce("mentions", [encode(p) for p in posts], [key_of(p) for p in posts])
        decisions = rp.read("decisions", lambda r: len(r) >= 4)
        verdicts = {d["mention"]["id"]: d["verdict"] for d in decisions}
        assert verdicts["p1"] == "silent" and verdicts["p2"] == "silent"
        assert verdicts["p3"] != "silent" and verdicts["p4"] == "silent"
        items = rp.read("audit", lambda r: len(r) >= 2)
    assert sorted(i["mention"]["id"] for i in items) == ["p1", "p4"]  # not the brand's post
    listed = rp.cli("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {json.loads(line)["ref"]: json.loads(line) for line in listed.stdout.splitlines()}
    assert set(rows) == {"generic:p1", "generic:p4"}
    assert rows["generic:p1"]["label"] is None
    assert rows["generic:p1"]["reasons"][0].startswith("not actionable")

    assert rp.cli("audit", "label", "generic:p1", "no", "--by", "ops").returncode == 0
    assert "generic:p1" not in rp.cli("audit", "list").stdout  # out of the queue
    assert rp.cli("audit", "label", "generic:p4", "no").returncode == 0
    assert rp.cli("audit", "list").stdout.strip() == "every audit item is labelled"
    assert rp.cli("audit", "label", "generic:p1", "yes").returncode == 0  # changed mind
    labels = rp.read("feedback", lambda r: len(r) >= 3)
    assert [lab["mention_ref"] for lab in labels].count("generic:p1") == 2
    assert labels[-1]["actionable"] is True and labels[-1]["source"] == "audit"
    again = rp.cli("audit", "list", "--all", "--json")
    latest = {json.loads(line)["ref"]: json.loads(line)["label"]
              for line in again.stdout.splitlines()}
    assert latest == {"generic:p1": True, "generic:p4": False}  # the latest label, once
    unknown = rp.cli("audit", "label", "generic:nope", "yes")
    assert unknown.returncode == 1 and "no audit item generic:nope" in unknown.stderr

    exported = rp.cli("audit", "export", str(tmp_path / "labels.jsonl"))
    assert exported.returncode == 0 and "2 labels" in exported.stdout, exported.stderr
    from classifiers.data import read_labelled

    data = read_labelled(tmp_path / "labels.jsonl")  # what `router train --data` reads
    assert dict(zip(data.texts, data.labels, strict=True)) == {posts[0]["text"]: 1,
                                                               posts[3]["text"]: 0}


def topic_config(rp: RouterProcess, base: str) -> dict[str, str]:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=rp.bootstrap)
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                       rp.topic(base))])
    finally:
        admin.close()
    [per_topic] = found.values()  # {resource type: {topic: {key: {value ...}}}}
    entries = per_topic[rp.topic(base)]
    return {k: (v["value"] if isinstance(v, dict) else v) for k, v in entries.items()}


@pytest.mark.kafka
def test_train_and_evaluate_on_the_feedback_labels(kafka_bootstrap: str, tmp_path: Path
                                                  ) -> None:
    """The company's labels on `feedback` (audits and agents' desk marks, one per mention)
    train a candidate and score it beside the live model, from the command line."""
    from classifiers.seed_examples import SEED_EXAMPLES
    from vocab.records import Label

    rp = RouterProcess(kafka_bootstrap, tmp_path)
    rp.create_topics()
    # labels are kept per mention for good; the dashboard's volumes for three days
    assert topic_config(rp, "feedback")["cleanup.policy"] == "compact"
    assert topic_config(rp, "volumes")["retention.ms"] == str(72 * 3_600_000)
    labels = [Label(mention_ref=f"generic:f{i}", actionable=bool(actionable), text=text,
                    source="zendesk" if i % 2 else "audit", verdict="silent")
              for i, (text, _c, actionable, _h, _s) in enumerate(SEED_EXAMPLES)]
    # a relabel of the first mention: it must count once, with the newer answer
    labels.append(Label(mention_ref="generic:f0", actionable=not labels[0].actionable,
                        text=labels[0].text, source="audit"))
    rp.produce("feedback", [bytes(lab.dumps()) for lab in labels],
               [lab.mention_ref.encode() for lab in labels])

    trained = rp.cli("train", "--feedback", "--no-shared", "--out", str(tmp_path / "m"))
    assert trained.returncode == 0, trained.stderr
    assert f"{len(SEED_EXAMPLES)} labels from the feedback topic" in trained.stdout
    kept = [json.loads(line) for line in
            (tmp_path / "m" / "feedback-labels.jsonl").read_text().splitlines()]
    assert len(kept) == len(SEED_EXAMPLES)  # one per mention
    assert next(r for r in kept if r["ref"] == "generic:f0")["label"] == int(
        not SEED_EXAMPLES[0][2])

    evaluated = rp.cli("evaluate", "--feedback", "--candidate", str(tmp_path / "m"),
                       "--out", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "live model: the shipped model" in evaluated.stdout
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert report["rows"] == len(SEED_EXAMPLES)
    assert set(report["models"]) == {"live", "candidate"}
    assert (tmp_path / "eval" / "pr_curve.png").is_file()

    (tmp_path / "x.csv").write_text("text,label\nhi,0\nhelp,1\n", "utf-8")
    both = rp.cli("evaluate", "--feedback", "--data", str(tmp_path / "x.csv"))
    assert both.returncode == 2 and "not both" in both.stderr
    # run where ../shared/data is not: the command says how to go on
    no_shared = rp.cli("train", "--feedback", "--out", str(tmp_path / "m2"))
    assert no_shared.returncode == 2 and "--no-shared" in no_shared.stderr
