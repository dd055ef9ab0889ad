"""The channel simulator (issue 15): plays WeChat Pay API v3 and Alipay for the demo, the tests and the
benchmarks, exactly as the channels publish their protocols (see docs/channels.md).

A tool beside canbao, not part of it: canbao's own code never imports this package (only `canbao.cli.simulator`
and the tests do). It holds what only the channel holds — the platform (or Alipay) private key — and gives canbao
the public parts through `canbao channel add` (services.channels.add_channel).

- :mod:`canbao.simulator.keys` — a simulated channel's key material, saved to and loaded from a folder;
- :mod:`canbao.simulator.wechat`, :mod:`canbao.simulator.alipay` — notifications and query answers as sent;
- :mod:`canbao.simulator.schedule` — the published retry schedules and what counts as acknowledged;
- :mod:`canbao.simulator.channel` — `SimulatedChannel`: pays orders, builds notifications and their variants;
- :mod:`canbao.simulator.sender` — `Deliverer`: POSTs them and retries on the channel's schedule;
- :mod:`canbao.simulator.gateway` — the channels' order query (主动查单) as a small FastAPI app.
"""
