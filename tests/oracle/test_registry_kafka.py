"""The schema registry on a Kafka topic (`runnel registry serve --kafka`), against Tansu.

Several instances share one single-partition topic; the consumer group elects a primary, which
takes writes; followers forward writes to it and answer reads from their own copy, after reading
their forwarded write back (read-your-writes). Shown here: three instances, registrations through
each; the primary SIGKILLed in the middle of a burst of concurrent registrations, after which no
id was given twice, every acknowledged registration is readable from every survivor, and another
instance took over; confluent-kafka's `SchemaRegistryClient` probe (the tests of
test_registry_confluent.py) against a follower; and the refusals to start: a topic holding records
Runnel did not write (naming the offset), a topic with several partitions, nothing listening, and a
peer that does not speak Kafka.

The election's session timeout is 3 s here (`--election-timeout-ms`), so a dead primary is
replaced within seconds.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient

import test_registry_confluent as probe
from conftest import REPO, START_SECONDS, drain, free_port, runnel_bin

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


class Instance:
    """``runnel registry serve --kafka BOOTSTRAP`` on a free port; ``url`` from its ready line.
    Its log lines are kept, so a test sees when it becomes primary."""

    def __init__(self, bootstrap, topic, *extra):
        cmd = [runnel_bin(), "registry", "serve", "--http", "127.0.0.1:0", "--kafka", bootstrap,
               "--schemas-topic", topic, "--election-timeout-ms", "3000", *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.url = None
        timer = threading.Timer(START_SECONDS, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stderr:
                self.lines.append(line)
                match = re.search(r"registry listening on (\S+)", line)
                if match:
                    self.url = match.group(1)
                    break
        finally:
            timer.cancel()
        if self.url is None:
            self.proc.wait()
            self.lines.append(self.proc.stderr.read())
            return
        self.keeper = threading.Thread(target=self._keep, daemon=True)
        self.keeper.start()

    def _keep(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def output(self):
        if self.proc.poll() is not None and self.url:
            self.keeper.join(timeout=5)  # the last lines, once it has exited
        return "".join(self.lines)

    def is_primary(self):
        """Whether its last word on the election was winning it."""
        state = False
        for line in list(self.lines):
            if "is now the primary" in line:
                state = True
            elif "is no longer the primary" in line:
                state = False
        return state and self.proc.poll() is None

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def instances():
    started = []
    yield started
    for i in started:
        i.stop()


def start(instances, bootstrap, topic, n):
    for _ in range(n):
        inst = Instance(bootstrap, topic)
        assert inst.url, f"the registry did not start: {inst.output()}"
        instances.append(inst)
    return instances[-n:]


def wait_primary(group, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        primaries = [i for i in group if i.is_primary()]
        if len(primaries) == 1:
            return primaries[0]
        time.sleep(0.1)
    logs = "\n---\n".join(i.output() for i in group)
    pytest.fail(f"no single primary among {len(group)} instances after {seconds} s:\n{logs}")


def schema(name):
    return json.dumps({"type": "record", "name": name, "namespace": "kafka.test",
                       "fields": [{"name": "id", "type": "long"}]})


def register(url, subject, text, timeout=30):
    r = requests.post(f"{url}/subjects/{subject}/versions", data=json.dumps({"schema": text}), headers=CT,
                      timeout=timeout)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
    return r.json()["id"]


def topic_name(what):
    return f"_schemas-{what}-{uuid.uuid4().hex[:8]}"


# Kill cycles of the failover test: 1 here; scripts/registry-kafka-failover-loop.sh runs more.
KILLS = int(os.environ.get("REGISTRY_KAFKA_KILLS", "1"))


def burst(group, total, prefix, victim):
    """`total` concurrent registrations of distinct schemas spread over `group`; `victim` is
    SIGKILLed once a third are acknowledged. A client whose instance died, or that got a 5xx
    during the election, retries the same registration on the next instance (registering is
    idempotent). Returns subject → acknowledged id."""
    acked, lock, killed = {}, threading.Lock(), threading.Event()

    def one(n):
        subject, text = f"{prefix}-{n}-value", schema(f"{prefix.capitalize()}N{n}")
        order = group[n % len(group):] + group[:n % len(group)]
        for _ in range(3):
            for inst in order:
                if inst.proc.poll() is not None:
                    continue
                try:
                    r = requests.post(f"{inst.url}/subjects/{subject}/versions",
                                      data=json.dumps({"schema": text}), headers=CT, timeout=40)
                except requests.ConnectionError:
                    continue
                if r.status_code == 200:
                    with lock:
                        acked[subject] = r.json()["id"]
                    return
                assert r.status_code >= 500, f"{r.status_code} {r.text}"
            time.sleep(0.5)

    def killer():
        while len(acked) < total // 3:
            time.sleep(0.01)
        victim.kill()
        killed.set()

    threading.Thread(target=killer, daemon=True).start()
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(one, range(total)))
    assert killed.is_set(), "the primary was killed during the burst"
    assert len(acked) == total, f"only {len(acked)} of {total} registrations acknowledged"
    return acked


def test_three_instances_survive_the_primary_sigkilled_during_a_burst(tansu, instances):
    topic = topic_name("failover")
    group = start(instances, tansu.bootstrap, topic, 3)
    wait_primary(group)

    # A registration through each instance, read back at once from the same one (followers
    # forwarded theirs and waited to read it), then seen by all.
    acked = {}
    for n, inst in enumerate(group):
        subject = f"each-{n}-value"
        acked[subject] = register(inst.url, subject, schema(f"Each{n}"))
        latest = requests.get(f"{inst.url}/subjects/{subject}/versions/latest", timeout=10).json()
        assert latest["id"] == acked[subject], f"read-your-writes on {inst.url}"
    assert len(set(acked.values())) == 3

    for cycle in range(KILLS):
        live = [i for i in group if i.proc.poll() is None]
        primary = wait_primary(live)
        acked.update(burst(live, 90, f"c{cycle}", primary))
        survivors = [i for i in live if i is not primary]
        new_primary = wait_primary(survivors)
        assert len(set(acked.values())) == len(acked), "an id was given twice"
        # Every acknowledged registration is readable, with its id, from every survivor.
        for inst in survivors:
            for subject, sid in acked.items():
                r = requests.get(f"{inst.url}/subjects/{subject}/versions/1", timeout=10)
                assert r.status_code == 200 and r.json()["id"] == sid, f"{inst.url} {subject}: {r.text}"
            assert set(requests.get(f"{inst.url}/subjects", timeout=10).json()) == set(acked)
        # The new primary takes writes from a follower and continues after the highest id.
        follower = next(i for i in survivors if i is not new_primary)
        subject = f"after-{cycle}-value"
        acked[subject] = register(follower.url, subject, schema(f"After{cycle}"))
        assert acked[subject] > max(v for k, v in acked.items() if k != subject)
        if cycle + 1 < KILLS:
            # A fresh instance replays the log and joins, so that three run again.
            group += start(instances, tansu.bootstrap, topic, 1)


def test_the_confluent_client_probe_passes_against_a_follower(tansu, instances, tmp_path):
    group = start(instances, tansu.bootstrap, topic_name("probe"), 2)
    primary = wait_primary(group)
    follower = next(i for i in group if i is not primary)
    client = SchemaRegistryClient({"url": follower.url})
    probe.test_registers_looks_up_and_evolves(client)
    probe.test_checks_compatibility_and_config(client)
    probe.test_refusals_carry_confluent_error_codes(client)
    probe.test_avro_deserializer_reads_a_runnel_framed_record(client, tmp_path)
    probe.test_avro_serializer_output_decodes_with_runnel(client, tmp_path)
    probe.test_runnel_schema_cli_registers_checks_and_explains_refusals(client, follower.url, tmp_path)
    # What the follower answered is what the primary holds.
    for subject in ["evolve-value", "check-value", "wire-in-value", "cli-value"]:
        versions = f"/subjects/{subject}/versions"
        assert requests.get(primary.url + versions, timeout=10).json() == \
            requests.get(follower.url + versions, timeout=10).json()


def read_topic(bootstrap, topic):
    """Every record value of the topic's one partition, in order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        values = []
        deadline = time.time() + 20
        while len(values) < high and time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                values.append(json.loads(msg.value()))
        assert len(values) == high, f"read {len(values)} of {high} records"
        return values
    finally:
        consumer.close()


def test_two_instances_writing_at_once_are_fenced_by_the_log(tansu, instances):
    """A follower told a request was forwarded to it runs it itself, as a second primary would
    (e.g. an old primary that has not noticed it lost the election). Both write concurrently;
    the `prev` rule skips every write planned on an outdated state, its writer plans again, and
    no id is given twice."""
    topic = topic_name("race")
    group = start(instances, tansu.bootstrap, topic, 2)
    wait_primary(group)
    acked, lock = {}, threading.Lock()

    def one(n):
        inst = group[n % 2]
        subject = f"race-{n}-value"
        r = requests.post(f"{inst.url}/subjects/{subject}/versions", data=json.dumps({"schema": schema(f"Race{n}")}),
                          headers={**CT, "x-runnel-registry-forwarded": "1"}, timeout=40)
        assert r.status_code == 200, r.text
        with lock:
            acked[subject] = r.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(60)))
    assert len(set(acked.values())) == 60, "an id was given twice"

    # Replay the topic as the instances do: the races happened, and were all resolved by skipping.
    applied, skipped, ids = -1, 0, []
    for offset, record in enumerate(read_topic(tansu.bootstrap, topic)):
        assert record["runnel_registry"] == 1
        if record["kind"] != "write":
            continue
        if record["prev"] == applied:
            applied = offset
            ids += [c["args"]["id"] for c in record["changes"] if c["op"] == "put_schema"]
        else:
            skipped += 1
    assert skipped > 0, "the two writers never raced (nothing was planned on an outdated state)"
    assert sorted(ids) == sorted(acked.values()), "exactly the acknowledged schemas were applied"
    for inst in group:
        for subject, sid in acked.items():
            assert requests.get(f"{inst.url}/subjects/{subject}/versions/1", timeout=10).json()["id"] == sid


def refusal(bootstrap, topic, seconds=20):
    """Starts an instance expected to refuse; its exit code, stderr and how long it took."""
    t0 = time.time()
    out = subprocess.run([runnel_bin(), "registry", "serve", "--http", "127.0.0.1:0", "--kafka", bootstrap,
                          "--schemas-topic", topic], capture_output=True, text=True, timeout=seconds)
    return out.returncode, out.stderr, time.time() - t0


def test_refuses_a_topic_holding_records_runnel_did_not_write(tansu, instances):
    topic = topic_name("foreign")
    # A registry writes a record or two, then, while it runs, something else writes Confluent's
    # kind of record: the running instance stops (it cannot follow the log any more), naming it.
    (inst,) = start(instances, tansu.bootstrap, topic, 1)
    wait_primary([inst])
    register(inst.url, "ok-value", schema("Ok"))
    delivered = []
    producer = Producer({"bootstrap.servers": tansu.bootstrap})
    producer.produce(topic, key=b'{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}',
                     value=b'{"subject":"x","version":1,"id":1,"schema":"\\"int\\""}', partition=0,
                     on_delivery=lambda err, msg: delivered.append(msg.offset()))
    producer.flush(10)
    assert delivered, "the foreign record was written"
    assert inst.proc.wait(timeout=15) != 0
    assert f"offset {delivered[0]}" in inst.output() and "stopped following" in inst.output(), inst.output()
    # A new instance refuses to start on it, saying where.
    code, err, took = refusal(tansu.bootstrap, topic)
    assert code != 0
    assert f"offset {delivered[0]}" in err and topic in err and "Runnel did not write it" in err, err
    assert took < 15
    assert err.strip().splitlines()[-1].startswith("error: "), "a one-line error last"


def test_refuses_a_topic_with_several_partitions_nothing_listening_and_a_foreign_protocol(tansu):
    topic = topic_name("wide")
    admin = AdminClient({"bootstrap.servers": tansu.bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=10)
    code, err, _ = refusal(tansu.bootstrap, topic)
    assert code != 0 and "3 partitions" in err and "exactly one" in err, err

    nowhere = f"127.0.0.1:{free_port()}"
    code, err, took = refusal(nowhere, "_schemas")
    assert code != 0 and f"cannot connect to the Kafka cluster at {nowhere}" in err, err
    assert took < 10

    # An HTTP server where a Kafka broker should be.
    http = subprocess.Popen(["python3", "-m", "http.server", "--bind", "127.0.0.1", str(port := free_port())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        code, err, took = refusal(f"127.0.0.1:{port}", "_schemas")
        assert code != 0 and "does not answer as a Kafka broker" in err, err
        assert took < 15
    finally:
        http.kill()
        http.wait()


class Serve:
    """``runnel serve`` with its registry on Kafka (``--registry-kafka``). Its HTTP port is chosen
    up front: it is the address the other registry instances forward writes to."""

    def __init__(self, bootstrap, topic):
        self.data = tempfile.mkdtemp(prefix="runnel-oracle-")
        http = f"127.0.0.1:{free_port()}"
        cmd = [runnel_bin(), "serve", "--data", self.data, "--grpc", "127.0.0.1:0", "--http", http, "--kafka", "none",
               "--registry-kafka", bootstrap, "--schemas-topic", topic, "--election-timeout-ms", "3000"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        timer = threading.Timer(START_SECONDS, self.proc.kill)
        timer.start()
        try:
            line = next((l for l in self.proc.stdout if l.startswith("runnel serving:")), None)
        finally:
            timer.cancel()
        if line is None:
            self.proc.wait()
            pytest.fail(f"runnel serve did not start: {self.proc.stderr.read()}")
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        self.grpc_url, self.url = fields["grpc"], fields["http"]
        for pipe in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=drain, args=(pipe,), daemon=True).start()

    def cli(self, *args):
        out = subprocess.run([runnel_bin(), "--url", self.grpc_url, "--registry-url", self.url, *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def eventually(check, seconds=10):
    deadline = time.time() + seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_two_brokers_and_a_registry_alone_share_one_registry_on_kafka(tansu, instances):
    topic = topic_name("serve")
    servers = [Serve(tansu.bootstrap, topic), Serve(tansu.bootstrap, topic)]
    try:
        a, b = servers
        # A topic created with its schema on broker A registers users-value in the shared registry.
        a.cli("topic", "create", "users", "--schema", str(REPO / "schemas" / "user.avsc"))
        (alone,) = start(instances, tansu.bootstrap, topic, 1)
        for url in (b.url, alone.url):
            def has_v1(url=url):
                r = requests.get(f"{url}/subjects/users-value/versions", timeout=10)
                assert r.status_code == 200 and r.json() == [1], r.text
            eventually(has_v1)
        # A new version registered through B's HTTP port is read back there at once and seen by all.
        out = b.cli("schema", "register", "users-value", str(REPO / "schemas" / "user_v2.avsc"), "--output", "json")
        v2 = json.loads(out)
        assert v2["version"] == 2
        assert requests.get(f"{b.url}/subjects/users-value/versions/latest", timeout=10).json()["id"] == v2["id"]
        for url in (a.url, alone.url):
            def has_v2(url=url):
                r = requests.get(f"{url}/subjects/users-value/versions/latest", timeout=10)
                assert r.status_code == 200 and r.json()["id"] == v2["id"], r.text
            eventually(has_v2)
        # A record Runnel did not write stops every instance, the brokers too, with an error.
        producer = Producer({"bootstrap.servers": tansu.bootstrap})
        producer.produce(topic, value=b"not a registry record", partition=0)
        producer.flush(10)
        for proc in (a.proc, b.proc, alone.proc):
            assert proc.wait(timeout=15) != 0
    finally:
        for s in servers:
            s.stop()
