"""What a Rithmic or ProjectX set-up is checked for: the platform an account's rules use, `config check`'s
warning when it contradicts the executor, and `doctor` asking each loopback gateway."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from enigma_apex.app import doctor
from enigma_apex.app.preflight import platform_warnings
from enigma_apex.bench.venues import projectx_server, rithmic_server
from enigma_apex.bench.venues.projectx_server import FakeProjectX
from enigma_apex.bench.venues.rithmic_server import FakeRithmic
from enigma_apex.config.models import Settings
from enigma_apex.execution.sim import SimBroker

EVAL = "apex4-intraday-eval-50k"


def settings(**sections):
    accounts = [
        {"name": "R1", "profile": EVAL, "executor": "rithmic"},
        {"name": "R2", "profile": EVAL, "executor": "rithmic", "platform": "tradovate"},
        {"name": "T1", "profile": EVAL, "executor": "tradovate"},
        {"name": "P1", "profile": EVAL, "executor": "projectx"},
    ]
    return Settings.model_validate({"accounts": accounts, **sections})


def test_an_account_takes_its_executors_platform_unless_it_names_one():
    cfg = settings()
    platforms = {a.name: a.platform for a in cfg.accounts}
    assert platforms == {"R1": "rithmic", "R2": "tradovate", "T1": "tradovate", "P1": None}
    warnings = platform_warnings(cfg)
    assert len(warnings) == 1 and "R2" in warnings[0] and "rithmic" in warnings[0]


def test_doctor_asks_the_rithmic_gateway_for_its_systems_and_projectx_for_a_login():
    async def venues():
        rithmic = FakeRithmic(SimBroker({"R1": Decimal(50000)}), ["R1"])
        projectx = FakeProjectX(SimBroker({"P1": Decimal(50000)}), {"P1": 1})
        return rithmic, await rithmic.start(), projectx, await projectx.start()

    async def scenario():
        rithmic, url, projectx, (api, _user, _market) = await venues()
        try:
            good = settings(
                rithmic={"gateway_url": url, "system_name": rithmic_server.SYSTEM, "user": "u", "password": "p"},
                projectx={"api_url": api, "username": projectx_server.USER, "api_key": projectx_server.API_KEY},
            )
            checks = {c.name: c for c in await asyncio.to_thread(doctor.run, good, ports=False)}
            assert checks["Rithmic"].status == "ok" and checks["ProjectX"].status == "ok"
            wrong = settings(
                rithmic={"gateway_url": url, "system_name": "Nowhere", "user": "u", "password": "p"},
                projectx={"api_url": api, "username": projectx_server.USER, "api_key": "wrong"},
            )
            checks = {c.name: c for c in await asyncio.to_thread(doctor.run, wrong, ports=False)}
            assert checks["Rithmic"].status == "fail" and rithmic_server.SYSTEM in checks["Rithmic"].fix
            assert checks["ProjectX"].status == "fail" and "Invalid credentials" in checks["ProjectX"].detail
            unset = {c.name: c for c in await asyncio.to_thread(doctor.run, settings(), ports=False, network=False)}
            assert unset["Rithmic"].status == "fail" and "rithmic.gateway_url" in unset["Rithmic"].fix
        finally:
            await rithmic.stop()
            await projectx.stop()

    asyncio.run(scenario())
