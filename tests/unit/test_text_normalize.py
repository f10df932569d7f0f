from pipeline.text.normalize import fold, normalize


def test_fullwidth_and_case():
    assert normalize("ＡＢＣ１２３") == "abc123"


def test_traditional_to_simplified():
    assert normalize("請聯繫我們的業務員") == "请联系我们的业务员"


def test_numerals_written_digit_by_digit():
    assert "13812345678" in normalize("电话一三八一二三四五六七八")
    assert "138 1234 5678" in normalize("电话幺三八 一二三四 五六七八")
    assert normalize("①③８") == "138"


def test_numerals_in_words_untouched():
    assert normalize("我们一起三个人") == "我们一起三个人"


def test_separators_between_characters_removed():
    assert normalize("微 信") == "微信"
    assert normalize("赌*球") == "赌球"
    assert normalize("加.V") == "加微信"


def test_separators_between_digits_kept():
    assert "2024-05-01" in normalize("发布日期 2024-05-01")
    assert "v2.3.1" in normalize("版本 v2.3.1")


def test_variants_from_config():
    assert normalize("加薇信") == "加微信"
    assert normalize("V信") == "微信"
    assert normalize("vx号") == "微信号"
    assert normalize("菠菜平台") == "博彩平台"
    assert normalize("🈶意者") == "有意者"


def test_ascii_variants_need_word_boundaries():
    assert "微信" not in normalize("usb vxlan")


def test_fold_maps_back_to_original():
    f = fold("加 薇 信 abc")
    s, e = 0, len(f.text)
    a, b = f.to_original(s, e)
    assert f.original[a:b] == "加 薇 信 abc"


def test_every_unicode_space_is_a_space_and_every_digit_an_ascii_digit():
    assert fold("138\u00a01234\u20095678\u202f9\u3000x").text == "138 1234 5678 9 x"
    assert fold("\u0661\u0663\u0668 \u0967\u0969\u096e 𝟏𝟑𝟖 ¹²³").text == "138 138 138 123"
    assert normalize("微\u00a0信") == "微信"


def test_numerals_run_across_the_separators_people_put_in_numbers():
    assert fold("一三八/一二三四/五六七八").text == "138/1234/5678"
    assert fold("幺三八，幺二三四，五六七八").text == "138,1234,5678"
    assert fold("一三八 - 一二三四 - 五六七八").text == "138 - 1234 - 5678"
    # a list with 、 is not a number, nor are numerals that are words
    assert fold("一、二、三、四").text == "一、二、三、四"
    assert fold("我们一起三个人").text == "我们一起三个人"


def test_fold_keeps_offsets_through_fillers_and_converted_spaces():
    f = fold("电话138\u200b1234\u00a05678")
    assert f.text == "电话1381234 5678"
    start = f.text.index("1")
    a, b = f.to_original(start, len(f.text))
    assert f.original[a:b] == "138\u200b1234\u00a05678"
