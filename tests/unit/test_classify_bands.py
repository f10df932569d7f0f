"""Decision bands (issue 26, R1): `band_of`, the choice of act thresholds on the validation split
(`moderation bands`), and the band figures of `moderation eval`."""
from pipeline.classify.verdict import band_of


def test_band_of_work_is_pass_and_a_detector_decision_acts():
    act = {"illegal": 0.8}
    assert band_of("work", 0.99, act) == "pass"
    assert band_of("illegal", 0.55, act, decided_by_detector=True) == "act"
    assert band_of("illegal", 0.55, act) == "review"
    assert band_of("illegal", 0.8, act) == "act"          # at the threshold: acts
    assert band_of("illegal", 0.7999, act) == "review"
    assert band_of("ad", 0.7, None) == "act"               # bands off: every violation acts


def test_an_act_threshold_of_one_acts_only_on_detector_decisions():
    """1.0 means: no model score acts, not even one that rounds to 1.0000 (the verdict's scores are
    rounded to four decimals, so a model score of 0.99996 reads 1.0)."""
    act = {"rumour": 1.0, "confidential": 1.0}
    assert band_of("rumour", 1.0, act) == "review"
    assert band_of("confidential", 1.0, act) == "review"
    assert band_of("confidential", 0.93, act, decided_by_detector=True) == "act"
