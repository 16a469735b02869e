"""The wire contract, TF-free and importing nothing of ours: each endpoint's name,
signatures, keys and dtypes; the TF Serving messages the clients speak; the one numpy
<-> TensorProto codec; one request/response codec per endpoint; shared defaults."""
