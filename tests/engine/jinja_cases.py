#!/usr/bin/env python3
"""Writes tests/fixtures/jinja/cases.json: Jinja templates with their output as rendered by Python jinja2 (3.1.6
when generated), in the environment transformers' apply_chat_template builds (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, its tojson and raise_exception). jinja_test.cc renders each one with
fp4lab's interpreter and expects the same bytes. Run: python3 tests/engine/jinja_cases.py > tests/fixtures/jinja/cases.json
"""
import json
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Generation(Extension):
    """transformers' AssistantTracker without the index tracking: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols", Generation])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


MESSAGES = [
    {"role": "system", "content": "  Be brief.  "},
    {"role": "user", "content": "Héllo, 世界! <b>&</b>"},
    {"role": "assistant", "content": "<think>\nplan\n</think>\n\nHi there"},
]

CASES = [
    # name, template, variables
    ("text_and_print", "a{{ 1 }}b{{ 'c' }}{{ none }}{{ true }}{{ 1.5 }}{{ undefined_name }}.", {}),
    ("comment", "a{# hidden #}b", {}),
    ("whitespace_control", "a  {{- 'b' -}}  c\n  {%- if true -%}  d  {%- endif -%}  e", {}),
    ("trim_blocks", "{% if true %}\nline\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "x\n    {% if true %}\n    kept\n    {% endif %}\ny", {}),
    ("lstrip_not_after_text", "x {% if true %}y{% endif %}", {}),
    ("plus_disables_lstrip_and_trim", "x\n    {%+ if true +%}\ny{% endif %}", {}),
    ("comment_trim", "a\n  {# c #}\nb", {}),
    ("strip_unicode_whitespace", "a\u00a0\u3000 {{- 'b' -}} \u2003\n\u00a0c {%- if true -%}\u00a0\x1c d{% endif %}", {}),
    ("lstrip_comment_and_minus", "x\n  {# note #}\n  y\n\n  {%- if true %}\n z{% endif %}", {}),
    ("trailing_newline_dropped", "a\n", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("for_loop_vars",
     "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}", {"items": ["a", "b", "c"]}),
    ("for_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}/{{ loop.length }} {% endfor %}", {}),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}|{% for k, v in d | items %}{{ k }}{% endfor %}",
     {"d": {"b": 1, "a": [1, 2]}}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"z": 1, "y": 2}}),
    ("for_string", "{% for c in 'héllo' %}[{{ c }}]{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_cycle_prev_next", "{% for x in [1,2,3] %}{{ loop.cycle('a','b') }}{{ loop.previtem }}{{ loop.nextitem }} {% endfor %}", {}),
    ("nested_loops", "{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("if_elif_else", "{% for x in [1,2,3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("set_scoping", "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}{% if true %}{% set x = 5 %}{% endif %}{{ x }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1,) %}{{ t }}{{ (1, 'a') }}", {}),
    ("block_set", "{% set s %}inner {{ 1 + 1 }}{% endset %}[{{ s }}]", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}"
     "{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }}{{ ns.found }}", {"messages": MESSAGES}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} {{ greet() }}", {}),
    ("macro_call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('p') %}body{% endcall %}", {}),
    ("call_block_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1,2]) %}<{{ v }}>{% endcall %}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 * 1.5 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 10 / 4 }}", {}),
    ("string_ops", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ 'x' in 'xyz' }} {{ 'q' not in 'xyz' }}", {}),
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1,2] == [1,2] }} {{ none == none }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }}", {}),
    ("logic", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ none or [] }} {{ 'a' if false }} {{ 'a' if false else 'b' }} {{ 1 if 1 else 2 if 0 else 3 }}", {}),
    ("unary", "{{ -3 }} {{ +3 }} {{ -(2 ** 2) }} {{ not not 1 }}", {}),
    ("slicing", "{{ s[1:] }} {{ s[:-1] }} {{ s[::-1] }} {{ s[::2] }} {{ s[-2:] }} {{ l[1:] }} {{ l[::-1] }} {{ l[5:] }} {{ l[-100:1] }} {{ s[1] }} {{ l[-1] }}",
     {"s": "héllo", "l": [1, 2, 3]}),
    ("subscripts", "{{ d['a'] }} {{ d.a }} {{ d['missing'] }}|{{ l[10] }}|{{ l.0 }} {{ messages[0]['role'] }}", {"d": {"a": 1}, "l": [5], "messages": MESSAGES}),
    ("literals", "{{ [1, 'a', none, true] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) }} {{ () }} {{ 'it''s' }} {{ \"q'\" }} {{ 'a\\nb' }} {{ 1_000 }}", {}),
    ("repr_strings", "{{ ['it\\'s', 'say \"x\"', 'both \\' \"', 'tab\\t'] }}", {}),
    ("string_methods",
     "{{ s.startswith('He') }} {{ s.endswith(('x', 'd!')) }} {{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|"
     "{{ s.strip(' !') }} {{ s.split() }} {{ s.split('l') }} {{ s.split('l', 1) }} {{ s.upper() }} {{ s.lower() }} "
     "{{ s.title() }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ s.find('o') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }}",
     {"s": "  Hello world!  "}),
    ("string_methods_unicode", "[{{ s.strip() }}] {{ s.split() }} {{ s | length }}", {"s": "\u00a0\u3000é x\u2003y\u00a0"}),
    ("qwen_think_split",
     "{% set c = messages[2].content %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
     {"messages": MESSAGES}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}",
     {"d": {"a": 1, "b": "x"}}),
    ("filters_text",
     "{{ '  x  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'hello world' | capitalize }}|{{ 'hello world' | title }}|{{ 'ab' | upper }}|"
     "{{ 'AB' | lower }}|{{ 'aXbX' | replace('X', '-') }}|{{ '<a href=\"x\">&\\'' | escape }}|{{ '<b>' | e }}|{{ '<b>' | safe }}|{{ 12 | string }}|{{ 'abc' | reverse }}",
     {}),
    ("filters_default", "{{ missing | default('d') }} {{ missing | d('e') }} {{ '' | default('f') }} {{ '' | default('g', true) }} {{ none | default('h') }} {{ 0 | d(1, boolean=true) }}", {}),
    ("filters_seq",
     "{{ l | length }} {{ l | count }} {{ 'héllo' | length }} {{ l | first }} {{ l | last }} {{ l | join(', ') }} {{ l | join }} "
     "{{ 'abc' | list }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ l | reverse | list }} "
     "{{ [1, 2, 1, 3] | unique | list }} {{ d | items | list }} {{ missing | items | list }}",
     {"l": [1, 2, 3], "d": {"x": 1}}),
    ("filters_numbers", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ -3 | abs }} {{ (-3) | abs }} {{ 'ff' | int(base=16) }}", {}),
    ("filters_map_select",
     "{{ messages | map(attribute='role') | list }} {{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} "
     "{{ messages | rejectattr('role', 'eq', 'system') | list | length }} {{ [1, 2, 3, 4] | select('odd') | list }} "
     "{{ [1, 2, 3, 4] | reject('even') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ ['a', 'b'] | map('upper') | list }} "
     "{{ messages | map(attribute='name', default='anon') | list }} {{ messages | selectattr('name') | list }} {{ [1, 5, 9] | select('gt', 4) | list }}",
     {"messages": MESSAGES}),
    ("tojson",
     "{{ d | tojson }}\n{{ d | tojson(indent=2) }}\n{{ [] | tojson(indent=2) }}{{ {} | tojson }}{{ 'é\"\\\\\\n\\t<>&\\u0001' | tojson }} {{ 1.0 | tojson }} {{ [none, true, 1e100] | tojson }}",
     {"d": {"name": "get_weather", "parameters": {"type": "object", "required": ["city"], "n": 1.5, "ok": True, "none": None}}}),
    ("tests",
     "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is string }} "
     "{{ {} is mapping }} {{ [] is mapping }} {{ [] is sequence }} {{ 'a' is sequence }} {{ 1 is sequence }} {{ [] is iterable }} {{ y is iterable }} "
     "{{ 1 is number }} {{ 1.5 is number }} {{ 'a' is number }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} "
     "{{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 2 is in [1, 2] }} {{ 2 is equalto 2 }} {{ 2 is eq 3 }} "
     "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ x is not none }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ none is sameas none }} "
     "{{ 3 is gt 2 }} {{ 3 is le 2 }} {{ 3 is ne 2 }} {{ 3 is ge(3) }} {{ 2 is lt 3 }} {{ x is callable }} {{ range is callable }}",
     {"x": 1}),
    ("enable_thinking_false", "{% if enable_thinking is defined and enable_thinking is false %}off{% else %}on{% endif %}", {"enable_thinking": False}),
    ("enable_thinking_unset", "{% if enable_thinking is defined and enable_thinking is false %}off{% else %}on{% endif %}", {}),
    ("range", "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict(a=1).a }}", {}),
    ("undefined_prints_empty", "[{{ missing }}][{{ missing ~ 'x' }}][{{ d.missing }}][{{ d.missing is defined }}]", {"d": {}}),
    ("generation_block", "{% set x = 1 %}{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{% set x = 2 %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}{% generation %}{% set x = 3 %}{% endgeneration %}{{ x }}",
     {"messages": MESSAGES}),
    ("content_parts",
     "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'text' %}{{ p.text }}{% endif %}{% endfor %}{% endif %}|{% endfor %}",
     {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what?"}]}, {"role": "assistant", "content": "it"}]}),
    ("print_list_of_dicts", "{{ messages[:1] }}", {"messages": MESSAGES}),
    ("float_formatting", "{{ 1e16 }} {{ 1.5e16 }} {{ 123456789012345.6 }} {{ 0.0001 }} {{ 0.00001234 }} {{ 3.0 }} {{ -0.0 }} {{ 1/3 }} {{ 2.5e-10 }}", {}),
]


def main():
    env = environment()
    out = []
    for name, source, variables in CASES:
        rendered = env.from_string(source).render(**variables)
        out.append({"name": name, "template": source, "variables": variables, "rendered": rendered})
    json.dump({"generator": "jinja2 " + jinja2.__version__ + " (ImmutableSandboxedEnvironment as transformers sets it up)",
               "cases": out}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
