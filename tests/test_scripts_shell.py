"""Shell extraction: every way a script writes a config, compared with what bash writes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lbguard.scripts.rendered import LineIndex
from lbguard.scripts.shell_parse import ShellSyntaxError, parse_script
from scripts_helpers import analyse, rendered, run_shell

CASES = {
    "cat > FILE <<EOF": """
        cat > out.cfg <<EOF
        backend app
            server a ${A}:80
        EOF
    """,
    "cat <<EOF > FILE": """
        cat <<EOF > out.cfg
        server $A:80
        EOF
    """,
    "tee FILE <<EOF and tee -a": """
        tee out.cfg <<EOF >/dev/null
        one $A
        EOF
        tee -a out.cfg <<EOF >/dev/null
        two $A
        EOF
    """,
    "<<-EOF strips tabs": "cat > out.cfg <<-EOF\n\t\tbackend app\n\t\t    server a $A:80\n\tEOF\n",
    "quoted delimiters expand nothing": """
        cat > out.cfg <<'EOF'
        server ${A}:80 $B
        EOF
        cat >> out.cfg <<"EOF"
        x $A
        EOF
        cat >> out.cfg <<\\EOF
        y $A \\$x
        EOF
    """,
    "echo and printf appends": """
        echo "backend app" > out.cfg
        echo "    server a $A:80" >> out.cfg
        printf '    server b %s:%d check\\n' "$A" 81 >> out.cfg
        echo -n "no newline" >> out.cfg
        echo '' >> out.cfg
        echo -e "tab\\there" >> out.cfg
    """,
    "group redirect with cat heredoc and printf": """
        {
        cat <<EOF
        backend app
        EOF
        i=1
        for ip in $LIST; do
            printf '    server api-%02d %s:%s check\\n' "$i" "$ip" "$PORT"
            i=$((i + 1))
        done
        } > out.cfg
    """,
    "printf formats": """
        printf '%s|%5s|%-5s|%05d|%x|%o|%c|%%|%b\\n' abc de fg 42 255 8 xyz 'a\\tb' > out.cfg
        printf '%s=%s\\n' a 1 b 2 c >> out.cfg
        printf 'plain\\n' >> out.cfg
    """,
    "arithmetic": """
        n=3
        w=$(( n * 10 + 2 ))
        echo "weight $w $(( (n + 1) % 3 )) $((n<<2)) $((-7 / 2))" > out.cfg
        (( n++ ))
        let "n += 5"
        echo "$n" >> out.cfg
    """,
    "appends, ANSI-C quoting and a multi-line value in a heredoc": """
        servers=""
        for o in $ORIGINS; do
            servers+="    server ${o} max_fails=2;"$'\\n'
        done
        cat > out.conf <<EOF
        upstream app {
        ${servers}}
        EOF
    """,
    "parameter expansion forms": """
        : "${SET:=assigned}"
        echo "${A:-dflt} ${UNSET:-dflt} ${EMPTY-kept} ${EMPTY:-dflt}" > o.cfg
        echo "${A:+alt} ${UNSET:+alt}" >> o.cfg
        echo "${SET} ${#A} ${A%%.*} ${A#*.} ${A/0/X} ${A//0/X} ${A:3} ${A:0:4} ${A^^}" >> o.cfg
        echo "$A$B ${A}x '$A' \\$A" >> o.cfg
    """,
    "defaults in assignments": """
        PORT="${PORT:-8080}"
        NAME=${NAME:-web}
        echo "server ${NAME}-1 10.0.0.1:${PORT}" > o.cfg
    """,
    "brace ranges, seq and literal lists": """
        for i in {1..3}; do echo "server w$i 10.0.0.$i:80" >> o.cfg; done
        for i in $(seq 2 4); do echo "s$i" >> o.cfg; done
        for i in a "b c" d; do echo "[$i]" >> o.cfg; done
        for i in {01..03} web{a,b}; do echo "$i" >> o.cfg; done
    """,
    "C-style for, while with a counter, if and case": """
        for ((i = 0; i < 3; i++)); do echo "c$i" >> o.cfg; done
        n=0
        while [ "$n" -lt 2 ]; do echo "w$n" >> o.cfg; n=$((n + 1)); done
        if [ -z "$EMPTY" ]; then echo empty >> o.cfg; else echo full >> o.cfg; fi
        if [[ "$A" == 10.* && -n "$A" ]]; then echo ten >> o.cfg; fi
        case "$MODE" in
          prod|live) echo "balance leastconn" >> o.cfg ;;
          *) echo "balance roundrobin" >> o.cfg ;;
        esac
    """,
    "functions and positional arguments": """
        server_line() {
            printf '    server %s %s:%s check\\n' "$1" "$2" "${3:-80}"
        }
        {
            echo "backend app"
            server_line web-01 10.0.0.1
            server_line web-02 10.0.0.2 8080
        } > o.cfg
    """,
    "arrays": """
        hosts=(10.0.0.1 10.0.0.2)
        hosts+=(10.0.0.3)
        for h in "${hosts[@]}"; do echo "server ${h} ${hosts[0]} ${#hosts[@]}" >> o.cfg; done
    """,
    "envsubst with and without a list": """
        export A
        NOTEXPORTED=x
        tpl=$(cat <<'EOF'
        server ${A} $A $host ${NOTEXPORTED}
        EOF
        )
        printf '%s\\n' "$tpl" | envsubst > all.conf
        printf '%s\\n' "$tpl" | envsubst '${A}' > some.conf
        echo "$tpl" | envsubst '$A $host' > two.conf
    """,
    "write to a temporary file, then move it": """
        TMP=out.cfg.new
        echo "backend app" > "$TMP"
        mv "$TMP" out.cfg
        cp out.cfg copy.cfg
    """,
    "exit stops the script": """
        echo one > o.cfg
        [ -n "$A" ] || exit 1
        echo two >> o.cfg
        exit 0
        echo never >> o.cfg
    """,
    "here-string and line continuations": """
        cat > o.cfg <<< "server $A:80"
        echo "a" \\
          "b" >> o.cfg
        cat >> o.cfg <<EOF
        joined \\
        line
        EOF
    """,
    "pure command substitutions are evaluated": """
        name=$(basename /etc/haproxy/haproxy.cfg .cfg)
        dir=$(dirname /etc/haproxy/haproxy.cfg)
        body=$(printf '%s-%s' a b)
        echo "$name $dir $body $(echo nested $(echo deep))" > o.cfg
    """,
}
ENV = {"A": "10.0.0.1", "B": "b", "LIST": "10.0.4.21 10.0.4.22", "PORT": "9000", "EMPTY": ""}
ENV |= {"ORIGINS": "10.0.6.11:8080 10.0.6.12:8080", "MODE": "prod"}


@pytest.mark.parametrize("name", list(CASES))
def test_extraction_matches_bash(name: str, tmp_path: Path) -> None:
    script = "#!/bin/bash\n" + textwrap.dedent(CASES[name]).lstrip("\n")
    expected = run_shell(script, tmp_path, ENV)
    got = rendered(script, ENV)
    assert expected, "bash wrote nothing: the test itself is broken"
    assert got == expected


def test_sh_echo_interprets_escapes_like_dash(tmp_path: Path) -> None:
    script = "#!/bin/sh\necho 'a\\tb' > o.cfg\necho -n x >> o.cfg\n"
    assert rendered(script) == run_shell(script, tmp_path, shell="dash")


def test_every_rendered_line_maps_to_the_script_line_that_wrote_it() -> None:
    script = textwrap.dedent(
        """\
        #!/bin/bash
        servers=""
        for o in $ORIGINS; do
            servers+="    server ${o};"$'\\n'
        done
        cat > nginx.conf <<EOF
        upstream app {
        ${servers}}
        EOF
        """
    )
    a = analyse(script, {"ORIGINS": "10.0.0.1 10.0.0.2"})
    index = LineIndex(script)
    lines = a.outputs[0].data.split_lines()
    first = [index.line(next(o for o in row.origins if o >= 0)) for row in lines if row.text]
    assert first == [7, 4, 4, 8]
    addr = lines[1].text.index("10.0.0.1")
    assert index.position(lines[1].origins[addr]) == (4, 26)  # the ${o} reference
    names = {(s.sub.name, s.sub.state) for s in lines[1].spans}
    assert ("o", "set") in names and ("servers", "set") in names


def test_var_overrides_win_over_the_script_assignment() -> None:
    script = (
        'OUT=o.cfg\nIP=$(inventory get ip)\nPORT=${PORT:-80}\necho "server a $IP:$PORT" > $OUT\n'
    )
    a = analyse(script, {"IP": "", "PORT": "81"}, pinned={"IP"})
    assert a.outputs[0].data.text == "server a :81\n"
    spans = {s.sub.name: s.sub for s in a.outputs[0].data.spans}
    assert spans["IP"].state == "empty"


def test_command_substitution_is_never_run_and_marked_unknown() -> None:
    a = analyse('IP=$(inventory get web-03.ip)\necho "server w $IP:80" > o.cfg\n')
    text = a.outputs[0].data.text
    assert text.startswith("server w 192.0.2.") and text.endswith(":80\n")
    sub = next(s.sub for s in a.outputs[0].data.spans if s.sub.name == "IP")
    assert sub.state == "unknown" and sub.command == "inventory get web-03.ip"


def test_guarded_unset_variable_is_a_standin_not_an_empty_address() -> None:
    a = analyse('set -u\n: "${IP:?}"\necho "server w ${IP}:80" > o.cfg\n')
    sub = next(s.sub for s in a.outputs[0].data.spans if s.sub.name == "IP")
    assert sub.state == "guarded"


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ("for h in $(consul members); do echo $h >> o.cfg; done\n", "cannot be unrolled"),
        ("while read h; do echo $h >> o.cfg; done < hosts.txt\n", "cannot be unrolled"),
        ("for h in $HOSTS; do echo $h >> o.cfg; done\n", "runs zero times"),
        ("if curl -s http://x; then echo a > o.cfg; fi\n", "assumed it is true"),
        ("cat > o.cfg <<EOF\nbackend x\n", "never closed"),
        ("curl http://x > o.cfg\n", "does not run 'curl'"),
        ("source ./vars.sh\n", "does not read"),
    ],
)
def test_what_cannot_be_known_is_said(script: str, fragment: str) -> None:
    a = analyse(script)
    assert any(fragment in n.message for n in a.notes), [n.message for n in a.notes]


def test_unterminated_heredoc_still_renders_what_bash_would(tmp_path: Path) -> None:
    script = "cat > o.cfg <<EOF\nbackend app\n    server a 10.0.0.1:80\n"
    assert rendered(script) == run_shell(script, tmp_path)


@pytest.mark.parametrize(
    "script",
    ["echo 'unterminated\n", 'echo "x\n', "if true; then echo\n", "echo $(\n", "for do\n"],
)
def test_syntax_errors_raise_with_an_offset(script: str) -> None:
    with pytest.raises(ShellSyntaxError) as info:
        parse_script(script)
    assert info.value.offset >= 0


def test_reloads_and_validations() -> None:
    a = analyse(
        "cat > /etc/haproxy/haproxy.cfg <<EOF\nbackend a\nEOF\n"
        "haproxy -c -f /etc/haproxy/haproxy.cfg\n"
        "if [ $? -eq 0 ]; then systemctl reload haproxy; fi\n"
        "sudo service nginx reload\n"
    )
    assert [(r.balancer, r.validated) for r in a.reloads] == [("haproxy", True), ("nginx", True)]
    b = analyse("nginx -t || true\nnginx -s reload\n")
    assert b.validations and b.reloads[0].validated
    c = analyse("systemctl restart haproxy.service\n")
    assert not c.reloads[0].validated


def test_large_script_is_fast() -> None:
    body = "".join(
        f'echo "    server s{i} 10.0.{i // 250}.{i % 250}:80 check" >> o.cfg\n'
        for i in range(10_000)
    )
    a = analyse("echo 'backend app' > o.cfg\n" + body)
    assert a.outputs[0].data.text.count("\n") == 10_001


@pytest.mark.parametrize(
    "body",
    [
        'for i in 1 2; do echo "server b$i 10.0.0.$i:80" >> o.cfg; continue \u00b2; done\n',
        'for i in 1 2; do echo "server b$i 10.0.0.$i:80" >> o.cfg; break 0; done\n'
        "echo z >> o.cfg\n",
        'set -- a b\nshift x\necho "server c $1 $?" >> o.cfg\nshift 5\necho "$1 $?" >> o.cfg\n',
        'f() { return \u00b2; }\nf\necho "rc=$?" >> o.cfg\n'
        'f() { return 300; }\nf\necho "rc=$?" >> o.cfg\n',
        "exit \u00b2\necho never >> o.cfg\n",
    ],
)
def test_builtins_read_numbers_as_bash_does(body: str, tmp_path: Path) -> None:
    """Non-numeric counts and codes ('²' passes str.isdigit) behave as bash, never crash."""
    script = 'echo "server a 10.0.0.1:80" > o.cfg\n' + body
    assert rendered(script) == run_shell(script, tmp_path)
