"""Load on `backprop serve`'s predict endpoint, from this machine (loopback): real MNIST test
digits as PNG files, POSTed over keep-alive connections by client threads. Prints latency
percentiles, throughput, errors and the server's resident memory before and after; then the same
while a training run started over the API goes on. Run by scripts/bench-serve."""
import argparse
import http.client
import json
import statistics
import struct
import threading
import time
import urllib.parse
import zlib


def png(pixels, width=28, height=28):
    """An 8-bit grey PNG of these pixels (MNIST's white on black)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    rows = b"".join(b"\0" + bytes(pixels[y * width:(y + 1) * width]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_digits(folder, count):
    with open(f"{folder}/t10k-images-idx3-ubyte", "rb") as f:
        data = f.read()
    with open(f"{folder}/t10k-labels-idx1-ubyte", "rb") as f:
        labels = f.read()[8:]
    return [(png(data[16 + k * 784:16 + (k + 1) * 784]), labels[k]) for k in range(count)]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load(host, port, path, bodies, connections):
    """POSTs every body once, spread over `connections` threads; returns latencies (s), errors, wall time, correct."""
    latencies, errors, correct = [], [], [0]
    lock = threading.Lock()
    share = [bodies[k::connections] for k in range(connections)]

    def client(items):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        for body, label in items:
            start = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers={"Content-Type": "image/png"})
                response = connection.getresponse()
                answer = response.read()
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status == 200:
                        latencies.append(elapsed)
                        correct[0] += json.loads(answer)["digit"] == label
                    else:
                        errors.append(f"{response.status} {answer[:120]!r}")
            except Exception as error:  # a refused or dropped connection counts as an error
                with lock:
                    errors.append(repr(error))
                connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.close()

    threads = [threading.Thread(target=client, args=(items,)) for items in share]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - start, correct[0]


def report(name, latencies, errors, seconds, correct, total):
    ms = sorted(1000 * x for x in latencies)
    def percentile(p):
        return ms[min(len(ms) - 1, int(round(p / 100 * (len(ms) - 1))))] if ms else float("nan")
    print(f"{name}: {total} requests, {len(errors)} errors, {total / seconds:,.0f} requests/s; "
          f"latency p50 {percentile(50):.2f} ms, p90 {percentile(90):.2f} ms, p99 {percentile(99):.2f} ms, "
          f"max {ms[-1] if ms else float('nan'):.2f} ms; {correct} of {len(latencies)} digits read right")
    for error in errors[:3]:
        print(f"  error: {error}")
    return percentile(99)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--train-model", default="s6")
    options = parser.parse_args()
    address = urllib.parse.urlparse(options.url)
    path = "/api/predict?checkpoint=" + urllib.parse.quote(options.checkpoint)
    digits = test_digits(options.data, options.requests)

    # One request loads the checkpoint; the memory after it is the baseline.
    load(address.hostname, address.port, path, digits[:1], 1)
    before = rss_mib(options.pid)
    latencies, errors, seconds, correct = load(address.hostname, address.port, path, digits, options.connections)
    after = rss_mib(options.pid)
    p99 = report(f"predict ({options.checkpoint}, {options.connections} connections)", latencies, errors, seconds, correct,
                 len(digits))
    print(f"server RSS: {before:.1f} MiB before, {after:.1f} MiB after ({after - before:+.1f} MiB)")
    summary = f"bench_serve: p99={p99:.2f}ms errors={len(errors)} rss_growth_mib={after - before:.1f}"

    # The same while a run trains in the server (started over the API, stopped afterwards).
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("POST", "/api/runs", body=json.dumps({"model": options.train_model, "epochs": 1}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    started = json.loads(response.read())
    if response.status != 201:
        print(f"could not start a training run: {response.status} {started}")
        print(summary)
        return
    time.sleep(3)  # past loading the data: training under way
    latencies, errors, seconds, correct = load(address.hostname, address.port, path, digits[:500], options.connections)
    training_p99 = report(f"predict while {started['id']} trains", latencies, errors, seconds, correct, 500)
    connection.request("POST", f"/api/runs/{started['id']}/stop", body=b"{}", headers={"Content-Type": "application/json"})
    connection.getresponse().read()
    print(summary + f" training_p99={training_p99:.2f}ms training_errors={len(errors)}")


if __name__ == "__main__":
    main()
