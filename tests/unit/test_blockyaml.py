"""blockyaml reads the YAML kubeconfigs are written in as PyYAML's safe_load does, and leaves
everything else to PyYAML (None): over kubeconfigs as tools write them, generated documents of
awkward scalars, and the same documents mangled a character at a time."""

import json
import random

import pytest
import yaml

from kubectl_sidecar.blockyaml import parse

# As `kubectl config view --raw` writes it (client-go: sigs.k8s.io/yaml over go-yaml).
KUBECTL = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2sxSlNVTX
    server: https://127.0.0.1:39423
  name: kind-kind
- cluster:
    insecure-skip-tls-verify: true
    proxy-url: http://proxy.internal:3128
    server: https://[fd00::1]:6443
    tls-server-name: api.internal
  name: lab
contexts:
- context:
    cluster: kind-kind
    namespace: shop
    user: kind-kind
  name: kind-kind
- context:
    cluster: lab
    user: eks
  name: "on"
current-context: kind-kind
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    client-certificate-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2sxSlNVTX
    client-key-data: TFMwdExTMUNSVWRKVGlCU1UwRWdVRkpKVmtGVVJTQkxSVmt0TFMwdExRbz0=
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      - --cluster-name
      - prod
      command: aws
      env:
      - name: AWS_PROFILE
        value: prod
      interactiveMode: IfAvailable
      provideClusterInfo: false
- name: gke
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl
      provideClusterInfo: true
- name: oidc
  user:
    auth-provider:
      config:
        client-id: kubernetes
        id-token: eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwcyJ9.c2lnbmF0dXJl
        idp-issuer-url: https://dex.example.com
      name: oidc
- name: basic
  user:
    password: 'it''s secret'
    username: admin
"""

# The same written by PyYAML (sorted keys, indentless sequences) and with indented sequences.
DOCUMENT = yaml.safe_load(KUBECTL)


class IndentedDumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


WRITTEN = {
    "kubectl": KUBECTL,
    "pyyaml": yaml.safe_dump(DOCUMENT, default_flow_style=False, width=4096),
    "pyyaml unsorted": yaml.safe_dump(DOCUMENT, sort_keys=False, width=4096),
    "indented sequences": yaml.dump(DOCUMENT, Dumper=IndentedDumper, width=4096),
    "indent 4": yaml.dump(DOCUMENT, Dumper=IndentedDumper, indent=4, width=4096),
    "document marker": "---\n" + KUBECTL,
    "json": json.dumps(DOCUMENT, indent=2),
    "json compact": json.dumps(DOCUMENT),
}


@pytest.mark.parametrize("how", sorted(WRITTEN))
def test_kubeconfigs_as_tools_write_them_are_read_without_pyyaml(how):
    text = WRITTEN[how]
    assert parse(text) is not None, text
    assert parse(text) == yaml.safe_load(text) == DOCUMENT


@pytest.mark.parametrize(
    "text",
    [
        "a: 1 # comment\n",
        "a: |\n  text\n",
        "a: >-\n  text\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: [1, 2]\n",
        "a: {b: c}\n",
        'a: "escaped \\" quote"\n',
        "a: 'unclosed\n",
        "a: b\n  continued\n",
        "a: 1.5\n",
        "a: 1e3\n",
        "a: 0x1F\n",
        "a: 010\n",
        "a: 1_000\n",
        "a: 1:30\n",
        "a: 2001-12-14\n",
        "a: .inf\n",
        "a: -1\n",
        "<<: {a: 1}\n",
        "a: ~x\n",
        "a: =\n",
        "a:\tb\n",
        "a: b\r\n",
        "a: caf\u00e9\n",
        "- a\n- b\n",
        "just a string\n",
        "  a: 1\n",
        "a: 1\n b: 2\n",
        "a:\n  - - b\n",
        "? a\n: b\n",
        '"a": b\n',
        "yes: b\n",
        "a: b: c\n",
        "%YAML 1.1\n---\na: 1\n",
        "a: 1\n---\nb: 2\n",
        "",
        '{"a": 1.5}',
        '{"a": "\\u00e9"}',
        '["a"]',
        "{",
    ],
)
def test_yaml_outside_the_subset_is_left_to_pyyaml(text):
    assert parse(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a: yes\nb: off\nc: ~\nd: Null\ne: +5\nf: 0\n", None),
        ("a: y\nb: n\nc: NaN\nd: --flag\ne: -v\nf: nothing\n", None),
        ("a:\nb: ''\nc: \"\"\nd: []\ne: {}\n", None),
        ("a:\n- \n- b\n-\n  c: d\n", None),
        ("a:\n-   b: 1\n    c: 2\n- d\n", None),
        ("a: http://x:1/y?z=[1]\nb: x,y\n", None),
        ("a: 1\na: 2\n", None),
        ("\n\na: 1\n\n\nb:\n\n  c: 2\n", None),
    ],
)
def test_the_subset_reads_as_pyyaml_reads_it(text, expected):
    assert parse(text) == yaml.safe_load(text)
    assert parse(text) is not None


SCALARS = [
    "plain",
    "kind-kind",
    "https://127.0.0.1:6443",
    "yes",
    "No",
    "on",
    "OFF",
    "true",
    "null",
    "~",
    "",
    " lead",
    "trail ",
    "0",
    "7",
    "-3",
    "007",
    "0x1F",
    "1e3",
    "1.5",
    "1:20",
    "2001-12-14",
    ".inf",
    "<<",
    "=",
    "--region",
    "-",
    "- x",
    "a: b",
    "a #b",
    "#x",
    "'q'",
    '"q"',
    "it's",
    "a\\b",
    "[x]",
    "{x}",
    "a,b",
    "?",
    ":x",
    "x:",
    "&a",
    "*a",
    "!t",
    "|",
    ">",
    "%",
    "@",
    "`",
    "caf\u00e9",
    "tab\there",
    "two\nlines",
    "y",
    "n",
    "NaN",
    7,
    -1,
    0,
    True,
    False,
    None,
    1.5,
]
KEYS = ["name", "server", "yes", "on", "a-b", "x.y/z", "1", "null", "with space", "k"]


def generated(rng, depth=0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(SCALARS)
    if roll < 0.7:
        return {rng.choice(KEYS): generated(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [generated(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def pyyaml(text):
    try:
        return ("read", yaml.safe_load(text))
    except yaml.YAMLError:
        return ("refused", None)


def mangled(rng, text):
    """text with one random edit: a character deleted or inserted, a line indented or not."""
    if not text:
        return text
    at = rng.randrange(len(text))
    edit = rng.randrange(4)
    if edit == 0:
        return text[:at] + text[at + 1 :]
    if edit == 1:
        return text[:at] + rng.choice(" -:#\"'\n{[a1~&") + text[at:]
    lines = text.split("\n")
    line = rng.randrange(len(lines))
    lines[line] = ("  " + lines[line]) if edit == 2 else lines[line][1:]
    return "\n".join(lines)


def test_generated_and_mangled_documents_read_as_pyyaml_reads_them_or_not_at_all():
    rng = random.Random(20)
    read = 0
    for number in range(1500):
        document = {rng.choice(KEYS): generated(rng) for _ in range(rng.randint(1, 5))}
        dumper = IndentedDumper if number % 2 else yaml.SafeDumper
        text = yaml.dump(document, Dumper=dumper, sort_keys=bool(number % 3), width=4096)
        for candidate in (text, mangled(rng, text), mangled(rng, mangled(rng, text))):
            ours = parse(candidate)
            if ours is not None:
                read += 1
                assert pyyaml(candidate) == ("read", ours), candidate
    assert (
        read > 150
    )  # enough of what was written is in the subset for the comparison to mean something


def test_kubeconfig_mangled_reads_as_pyyaml_reads_it_or_not_at_all():
    rng = random.Random(7)
    for text in WRITTEN.values():
        for _ in range(300):
            candidate = mangled(rng, mangled(rng, text))
            ours = parse(candidate)
            if ours is not None:
                assert pyyaml(candidate) == ("read", ours), candidate
