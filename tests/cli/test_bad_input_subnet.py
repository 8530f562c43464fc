"""Hostile and malformed input to `netinspect subnet`: exit 2, one stderr line naming the
bad value, never a traceback."""

import pytest

CASES = [
    # (argv after "subnet", text that must appear in the message)
    (["1.2.3.4/33"], "'1.2.3.4/33'"),
    (["1.2.3.4/-1"], "'1.2.3.4/-1'"),
    (["1.2.3.4/ 24"], "'1.2.3.4/ 24'"),
    (["1.2.3.4/", "24"], "'1.2.3.4/' '24'"),
    (["300.1.1.1"], "'300.1.1.1'"),
    (["1.2.3/24"], "'1.2.3/24'"),
    (["1.2.3.4.5"], "'1.2.3.4.5'"),
    (["010.1.1.1"], "'010.1.1.1'"),
    (["127.1"], "'127.1'"),
    (["0x7f.1.1.1"], "'0x7f.1.1.1'"),
    (["2130706433"], "'2130706433'"),
    (["1.2.3.4/255.0.255.0"], "'1.2.3.4/255.0.255.0'"),
    (["1.2.3.4", "255.0.255.0"], "'255.0.255.0'"),
    (["1.2.3.4", "0.0.0.255"], "'0.0.0.255'"),
    (["\uff11\uff19\uff12.168.1.1"], "'\uff11\uff19\uff12.168.1.1'"),
    (["\u0661\u0669\u0662.168.1.1"], "'\u0661\u0669\u0662.168.1.1'"),
    (["192.168.1.1/\u0662\u0664"], "'192.168.1.1/\u0662\u0664'"),
    ([""], "''"),
    (["   "], "whitespace"),
    (["1.2.3.4\x00"], "'1.2.3.4\\x00'"),
    (["1.2.3.4\x1b[31m"], "'1.2.3.4\\x1b[31m'"),
    (["1.2.3.4\n/24"], "'1.2.3.4\\x0a/24'"),
    (["1.2.3.4/24/8"], "'1.2.3.4/24/8'"),
    (["2001:db8:::1"], "'2001:db8:::1'"),
    (["::1/129"], "'::1/129'"),
    (["fe80::1%eth0/64"], "'fe80::1%eth0/64'"),
    (["1.2.3.4/1_6"], "'1.2.3.4/1_6'"),
    (["-1"], "'-1'"),
    (["localhost"], "'localhost'"),
    (["9" * 5000], "'99999"),
    (["10.0.0.0/24", "--split", "16"], "'16'"),
    (["10.0.0.0/24", "--split", "33"], "'33'"),
    (["2001:db8::/64", "--split", "129"], "'129'"),
    (["10.0.0.0/24", "--split", "\uff12\uff16"], "'\uff12\uff16'"),
    (["10.0.0.0/24", "--hosts", "0"], "--hosts '0'"),
    (["10.0.0.0/24", "--hosts", "1000"], "--hosts 1000"),
    (["10.0.0.0/24", "--hosts", "9" * 80], "--hosts '9999"),
    (["10.0.0.0/24", "--hosts", "-5"], "--hosts '-5'"),
    (["10.0.0.0/24", "--hosts", "1e3"], "--hosts '1e3'"),
    (["10.0.0.0/24", "--limit", "0"], "--limit '0'"),
    (["10.0.0.0/24", "--contains", "10.0.0.256"], "'10.0.0.256'"),
    (["10.0.0.0/24", "--contains", "fe80::1%lo"], "'fe80::1%lo'"),
    (["10.0.0.0/24", "--contains", "10.0.0.0/99"], "'10.0.0.0/99'"),
    (["--supernet", "10.0.0.0/24", "2001:db8::/32"], "2001:db8::/32"),
    (["--supernet", "10.0.0.0/24", "10.0.1.0/33"], "'10.0.1.0/33'"),
    (["--split", "24"], "missing CIDR"),
    (["1.2.3.4", "255.255.255.0", "extra"], "extra"),
]


@pytest.mark.parametrize("argv, named", CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_bad_input_is_one_line_exit_2(cli, argv, named):
    result = cli("subnet", *argv)
    assert result.status == 2, result.out
    assert result.out == ""
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert named in result.err
    assert "\x00" not in result.err and "\x1b" not in result.err
    assert len(result.err) < 1000


def test_there_are_at_least_twenty_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("argv", [["300.1.1.1"], ["1.2.3.4/33"], ["2001:db8:::1"]])
def test_messages_list_the_accepted_forms(cli, argv):
    result = cli("subnet", *argv)
    assert "accepted: 192.168.12.84/24, 192.168.12.84/255.255.255.0" in result.err
    assert "2001:db8::1/64" in result.err


def test_ambiguous_forms_get_the_inet_aton_reading_as_a_hint(cli):
    assert "inet_aton would read it as 127.0.0.1" in cli("subnet", "127.1").err
    assert "inet_aton would read it as 127.0.0.1" in cli("subnet", "2130706433").err
    assert "inet_aton would read it as 127.1.1.1" in cli("subnet", "0x7f.1.1.1").err
    assert "8.1.1.1" in cli("subnet", "010.1.1.1").err
    assert "wildcard (inverse) mask, whose netmask is 255.255.255.0" in cli("subnet", "1.2.3.4/0.0.0.255").err


from hypothesis import given, settings, strategies as st  # noqa: E402

from tests.conftest import run_cli  # noqa: E402

_WORD = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789abcdefx.:/%- \uff10\u0661", max_size=30),
)


# At most two words, none starting with '-': more would reach argparse's own "unrecognized
# arguments" message, which is the frame's (it echoes the word unescaped; reported to the lead).
@given(st.lists(_WORD.filter(lambda w: not w.startswith("-")), min_size=1, max_size=2),
       st.sampled_from([[], ["--split"], ["--hosts"], ["--contains"], ["--supernet"], ["--json"]]))
@settings(max_examples=400, deadline=None)
def test_any_words_give_a_screen_or_one_line_bad_input(words, option):
    argv = ["subnet", *option, *words] if option and option[0] != "--json" else ["subnet", *words, *option]
    if argv[-1] in ("--split", "--hosts", "--contains", "--supernet"):
        argv.append("1")
    result = run_cli(*argv)
    assert result.status in (0, 2), result.err  # 1 would be an internal error
    if result.status == 2:
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
        assert "\x00" not in result.err and "\x1b" not in result.err
