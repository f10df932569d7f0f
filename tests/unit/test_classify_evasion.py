"""The evasion generator (issue 29) and the robustness figures of `moderation eval`."""
from pipeline.classify.evasion import EMOJI_FOR, EMOJI_NOT_IN_CONFIG, FAMILIES, SCOPES, Cloaker, cloaked_rows
from pipeline.classify.verdict import Verdict


def test_the_generator_is_deterministic_for_a_seed_and_differs_across_seeds():
    text = "你这个傻逼，明天别来上班了，废物一个"
    for family in FAMILIES:
        for scope in SCOPES:
            assert Cloaker(3).cloak(text, family, scope) == Cloaker(3).cloak(text, family, scope)
    assert len({Cloaker(seed).cloak(text, "homophones", "all") for seed in range(6)}) > 1


def test_scope_words_rewrites_only_the_lexicon_words():
    c = Cloaker(1)
    assert c.cloak("明天上午十点开会，大家准时到", "homophones", "words") == "明天上午十点开会，大家准时到"
    out = c.cloak("你这个傻逼，明天开会", "homophones", "words")
    assert out.startswith("你这个") and out.endswith("，明天开会") and "傻逼" not in out


def test_every_family_rewrites_a_lexicon_word():
    for family in FAMILIES:
        out = Cloaker(5).cloak("老板就是个废物", family, "words")
        assert out != "老板就是个废物" and out.startswith("老板就是个"), family


def test_homophones_sound_the_same_or_nearly_and_pinyin_is_latin():
    from pipeline.text.normalize import default_normalizer, normalize

    n = default_normalizer()
    for seed in range(5):
        out = Cloaker(seed).cloak("傻逼", "homophones", "words")
        assert out != "傻逼" and n.sounds(normalize(out)) == n.sounds("傻逼")
    assert Cloaker(0).cloak("傻逼", "pinyin", "words") in ("shabi", "sb")


def test_emoji_table_says_which_stand_ins_the_normalisation_does_not_map():
    from pipeline.text.normalize import normalize

    for char, emoji in EMOJI_FOR.items():
        mapped = normalize("的" + emoji + "的") == "的" + char + "的"
        assert mapped != (char in EMOJI_NOT_IN_CONFIG), (char, emoji)


def test_cloaked_rows_keep_labels():
    rows = [{"text": "你这个傻逼", "label": "abuse"}, {"text": "明天开会", "label": "work"}]
    out = cloaked_rows(rows, "fillers", "all", 0)
    assert [r["label"] for r in out] == ["abuse", "work"] and out[0]["text"] != rows[0]["text"]


class _Spotter:
    """Flags a message as abuse only when it holds 傻逼 as written: blind to any cloaking."""

    def classify(self, texts):
        return [Verdict("abuse" if "傻逼" in t else "work", {}, (), t) for t in texts]


def test_robustness_measures_the_drop_per_family_and_the_harmless_rows():
    from pipeline.classify.evaluate import robustness

    rows = [{"text": "你这个傻逼", "label": "abuse"}, {"text": "傻逼领导", "label": "abuse"},
            {"text": "又在胡说了", "label": "abuse"}, {"text": "明天开会", "label": "work"}]
    r = robustness(_Spotter(), rows, target="abuse", resamples=200)
    assert r["violating"] == 3 and r["harmless"] == 1
    assert r["clean"]["violating_flagged"] == round(2 / 3, 4) and r["clean"]["harmless_flagged"] == 0.0
    fillers_words = r["cloaked"][0]
    assert (fillers_words["family"], fillers_words["scope"]) == ("fillers", "words")
    # both rows with 傻逼 are cloaked and missed; the third has no lexicon word and stays as it was
    assert fillers_words["changed_violating"] == 2 and fillers_words["violating_flagged"] == 0.0
    assert fillers_words["drop"] == round(2 / 3, 4) and fillers_words["drop_interval"][1] <= 1.0
    assert fillers_words["target_f1"] == 0.0 and r["clean"]["target_f1"] == 0.8


def test_augmentation_adds_cloaked_copies_with_the_rows_labels():
    from pipeline.classify.train import augmented

    rows = [{"text": f"你这个傻逼{i}号", "label": "abuse", "source": "project_handwritten", "weight": 16.0}
            for i in range(200)]
    out = augmented(rows, 1013, share=0.25)
    assert 20 < len(out) < 80
    assert all(r["label"] == "abuse" and r["weight"] == 16.0 and r["cloaked"] for r in out)
    assert all(r["text"] not in {x["text"] for x in rows} for r in out)
    assert out == augmented(rows, 1013, share=0.25)
