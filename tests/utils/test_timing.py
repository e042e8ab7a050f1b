"""`dais_keras.utils.timing`: the round-robin timing every latency figure uses."""

from dais_keras.utils import timing


def test_time_in_turns_times_every_function_per_round_and_takes_the_median_of_round_medians(
        monkeypatch):
    calls = []
    slow_round = 2  # a busy phase of the machine: every model three times slower

    def fake_time_ms(run, runs, warmup, warmup_s):
        calls.append(run())
        return run() * (3.0 if len(calls) > 3 * slow_round and len(calls) <= 3 * (slow_round + 1)
                        else 1.0)

    monkeypatch.setattr(timing, "time_ms", fake_time_ms)
    makers = [lambda: (lambda: 1.0), lambda: (lambda: 2.0), lambda: (lambda: 0.5)]
    ms = timing.time_in_turns(makers, rounds=5, runs=10)
    assert calls == [1.0, 2.0, 0.5] * 5  # each round times every model once, in turn
    assert ms == [1.0, 2.0, 0.5]  # the slow round does not move the medians
