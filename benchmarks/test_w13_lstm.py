"""W13: gradient of ADBench's LSTM objective (GradBench evals/lstm): a
2-layer LSTM with diagonal weights over a sequence of c characters of
b = 14 bits each, the loss the negative mean log-softmax likelihood of the
next character, differentiated with respect to main_params (2l x 4b) and
extra_params (3 x b).  A Python loop of c steps over 14- and 56-element
vectors: the per-operation overhead of each library, as W8 measures it,
inside a recurrence.  The objective is written once and runs unchanged on
NumPy, fastad.numpy, autograd.numpy, jax.numpy and PyTorch (jax.jit gets
the same step under lax.scan); the limit is backpropagation through time
written by hand in NumPy."""
import functools

import numpy as np
import pytest

from benchmarks.common import QUICK, alternating, central_differences, check, compiled, peer, run

LAYERS, BITS = 2, 14
LENGTHS = [128, 1024]  # characters
TOLERANCE = dict(rtol=1e-9, atol=1e-12)
SLOW = dict(rounds=2 if QUICK else 5)  # (the peers that take a second or more per call)


def group(c):
    return "W13 LSTM gradient l=%d b=%d c=%d" % (LAYERS, BITS, c)


def sigmoid(np_, z):
    return 1.0 / (1.0 + np_.exp(-z))


def lstm_model(np_, weight, bias, hidden, cell, inp):
    """One layer, one step; ADBench's weights are diagonal: elementwise."""
    b = hidden.shape[0]
    gates = np_.concatenate((inp, hidden, inp, hidden)) * weight + bias
    forget = sigmoid(np_, gates[0:b])
    ingate = sigmoid(np_, gates[b:2 * b])
    outgate = sigmoid(np_, gates[2 * b:3 * b])
    change = np_.tanh(gates[3 * b:])
    cell = cell * forget + ingate * change
    hidden = outgate * np_.tanh(cell)
    return hidden, cell


def predict(np_, main_params, extra_params, state, x):
    x = x * extra_params[0]
    new_state = []
    for i in range(0, len(state), 2):
        hidden, cell = lstm_model(np_, main_params[i], main_params[i + 1],
                                  state[i], state[i + 1], x)
        x = hidden
        new_state += [hidden, cell]
    return x * extra_params[1] + extra_params[2], new_state


def lstm_step(np_, main_params, extra_params, state, inp, ygold):
    """One character: the new state and the log-likelihood of the next one,
    with ADBench's normaliser log(sum(exp(y)) + 2) (the + 2 is in ADBench's
    definition, kept so that the values agree)."""
    ypred, state = predict(np_, main_params, extra_params, state, inp)
    ynorm = ypred - np_.log(np_.sum(np_.exp(ypred)) + 2)
    return state, np_.sum(ygold * ynorm)


def lstm_objective(np_, main_params, extra_params, state, sequence):
    """ADBench's lstm_objective: the negative mean log-likelihood per bit."""
    state = [state[i] for i in range(state.shape[0])]
    total = 0.0
    for t in range(sequence.shape[0] - 1):
        state, loglik = lstm_step(np_, main_params, extra_params, state,
                                  sequence[t], sequence[t + 1])
        total = total + loglik
    return -total / ((sequence.shape[0] - 1) * sequence.shape[1])


def hand_written(main_params, extra_params, state, sequence):
    """The gradient with respect to (main_params, extra_params): the forward
    pass keeping each step's gates, then backpropagation through time."""
    b = state.shape[1]
    n_layers = state.shape[0] // 2
    steps = sequence.shape[0] - 1
    hidden = [state[2 * j] for j in range(n_layers)]
    cell = [state[2 * j + 1] for j in range(n_layers)]
    tape = []
    for t in range(steps):
        x = sequence[t] * extra_params[0]
        layers = []
        for j in range(n_layers):
            cat = np.concatenate((x, hidden[j], x, hidden[j]))
            gates = cat * main_params[2 * j] + main_params[2 * j + 1]
            sig = 1.0 / (1.0 + np.exp(-gates[:3 * b]))
            change = np.tanh(gates[3 * b:])
            new_cell = cell[j] * sig[:b] + sig[b:2 * b] * change
            tanh_cell = np.tanh(new_cell)
            layers.append((cat, cell[j], sig, change, tanh_cell))
            hidden[j], cell[j] = sig[2 * b:] * tanh_cell, new_cell
            x = hidden[j]
        ypred = x * extra_params[1] + extra_params[2]
        e = np.exp(ypred)
        tape.append((layers, x, e / (e.sum() + 2)))
    d_main, d_extra = np.zeros_like(main_params), np.zeros_like(extra_params)
    d_hidden = [np.zeros(b) for _ in range(n_layers)]
    d_cell = [np.zeros(b) for _ in range(n_layers)]
    scale = -1.0 / (steps * b)
    for t in range(steps - 1, -1, -1):
        layers, x_top, softmax = tape[t]
        d_ynorm = scale * sequence[t + 1]
        d_ypred = d_ynorm - d_ynorm.sum() * softmax
        d_extra[1] += d_ypred * x_top
        d_extra[2] += d_ypred
        dx = d_ypred * extra_params[1]
        for j in range(n_layers - 1, -1, -1):
            cat, old_cell, sig, change, tanh_cell = layers[j]
            dh = dx + d_hidden[j]
            dc = d_cell[j] + dh * sig[2 * b:] * (1.0 - tanh_cell ** 2)
            d_sig = np.concatenate((dc * old_cell, dc * change, dh * tanh_cell))
            d_change = dc * sig[b:2 * b] * (1.0 - change ** 2)
            d_gates = np.concatenate((d_sig * sig * (1.0 - sig), d_change))
            d_main[2 * j] += d_gates * cat
            d_main[2 * j + 1] += d_gates
            d_cat = d_gates * main_params[2 * j]
            d_hidden[j] = d_cat[b:2 * b] + d_cat[3 * b:]
            d_cell[j] = dc * sig[:b]
            dx = d_cat[:b] + d_cat[2 * b:3 * b]
        d_extra[0] += dx * sequence[t]
    return d_main, d_extra


# (parametrised test by test, not by a fixture, so that the limit and fastad
# run before the peers load at every length)
lengths = pytest.mark.parametrize("c", LENGTHS, ids=["c128", "c1024"])


@functools.lru_cache(maxsize=None)
def problem(c):
    rng = np.random.default_rng(0)
    # ADBench's generator: parameters and state uniform on [0, 1), the text
    # as the 14 bits of each character
    main_params = rng.random((2 * LAYERS, 4 * BITS))
    extra_params = rng.random((3, BITS))
    state = rng.random((2 * LAYERS, BITS))
    sequence = rng.integers(0, 2, (c, BITS)).astype(np.float64)
    params, data = (main_params, extra_params), (state, sequence)
    return params, data, hand_written(*params, *data)


@lengths
def test_hand_written(benchmark, c):
    params, data, grad = problem(c)
    run(benchmark, group(c), "numpy by hand", "limit", hand_written, *params, *data)


@lengths
def test_fastad(benchmark, c):
    import fastad
    import fastad.numpy as fnp
    params, data, grad = problem(c)
    gradient = fastad.grad(lambda *p: lstm_objective(fnp, *p, *data), argnums=(0, 1))
    result = gradient(*params)
    # fastad, and the hand-written reference, against central differences
    objective = lambda *p: lstm_objective(np, *p, *data)  # noqa: E731
    for a, j, numeric in central_differences(objective, params, picks=4, h=1e-5):
        check(result[a].flat[j], numeric, rtol=1e-5, atol=1e-8, what="fastad gradient")
        check(grad[a].flat[j], numeric, rtol=1e-5, atol=1e-8, what="hand-written gradient")
    check(result, grad, **TOLERANCE)
    run(benchmark, group(c), "fastad", "subject", gradient, *params)


@lengths
def test_fastad_recorded(benchmark, c):
    import fastad
    import fastad.numpy as fnp
    params, data, grad = problem(c)
    tape = fastad.record(lambda *p: lstm_objective(fnp, *p, *data), *params)
    # (no piecewise functions here: the tape replays at any parameters)
    moved = tuple(p + 0.01 for p in params)
    check(tape.gradient(*moved), hand_written(*moved, *data), **TOLERANCE)
    check(tape.gradient(*params), grad, **TOLERANCE)
    run(benchmark, group(c), "fastad recorded", "subject",
        alternating(tape.gradient, params, moved))


@lengths
def test_autograd(benchmark, c):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    params, data, grad = problem(c)
    gradient = autograd.grad(lambda p: lstm_objective(anp, *p, *data))
    check(gradient(params), grad, **TOLERANCE)
    run(benchmark, group(c), "autograd", "peer", gradient, params, **SLOW)


@lengths
def test_torch(benchmark, c):
    torch = peer("torch")
    params, data, grad = problem(c)
    tstate, tsequence = (torch.from_numpy(a) for a in data)

    def gradient(*p):
        tp = [torch.from_numpy(v).requires_grad_(True) for v in p]
        out = lstm_objective(torch, *tp, tstate, tsequence)
        return [g.numpy() for g in torch.autograd.grad(out, tp)]
    check(gradient(*params), grad, **TOLERANCE)
    run(benchmark, group(c), "pytorch", "peer", gradient, *params, **SLOW)


@lengths
def test_jax_nojit(benchmark, c):
    if QUICK or c > 128:
        pytest.skip("jax without jit takes about 6 s a call at c=128 and 50 s at c=1024 (under "
                    "grad, each of the loop's small operations costs about a millisecond): "
                    "c=128 in full runs only")
    jax = peer("jax")
    jnp = peer("jax.numpy")
    params, data, grad = problem(c)
    gradient = jax.grad(lambda *p: lstm_objective(jnp, *p, *data), argnums=(0, 1))
    call = lambda *p: [np.asarray(g) for g in gradient(*p)]  # noqa: E731
    check(call(*params), grad, **TOLERANCE)
    run(benchmark, group(c), "jax (no jit)", "peer", call, *params, **SLOW)


@pytest.mark.skip(reason="jax.jit of the Python loop unrolls it: XLA had not compiled the "
                  "c=128 gradient after 10 minutes (2-core machine); test_jax_jit_scan jits "
                  "the same step under lax.scan")
@lengths
def test_jax_jit(benchmark, c):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    params, data, grad = problem(c)
    gradient = jax.jit(jax.grad(lambda *p: lstm_objective(jnp, *p, *data), argnums=(0, 1)))
    call = lambda *p: [np.asarray(g) for g in gradient(*p)]  # noqa: E731
    check(compiled(benchmark, lambda: call(*params)), grad, **TOLERANCE)
    run(benchmark, group(c), "jax (jit, steady state)", "peer", call, *params)


@lengths
def test_jax_jit_scan(benchmark, c):
    """The loop over the characters as lax.scan, as a JAX user writes it for
    jit: the same lstm_step, compiled once instead of c times."""
    jax = peer("jax")
    jnp = peer("jax.numpy")
    params, data, grad = problem(c)
    state, sequence = data

    def objective(main_params, extra_params):
        def body(carry, pair):
            state, total = carry
            state, loglik = lstm_step(jnp, main_params, extra_params, state, *pair)
            return (state, total + loglik), None
        start = ([state[i] for i in range(state.shape[0])], jnp.zeros(()))
        (_, total), _ = jax.lax.scan(body, start, (sequence[:-1], sequence[1:]))
        return -total / ((sequence.shape[0] - 1) * sequence.shape[1])
    gradient = jax.jit(jax.grad(objective, argnums=(0, 1)))
    call = lambda *p: [np.asarray(g) for g in gradient(*p)]  # noqa: E731
    check(compiled(benchmark, lambda: call(*params)), grad, **TOLERANCE)
    run(benchmark, group(c), "jax (jit of lax.scan, steady state)", "peer", call, *params)
