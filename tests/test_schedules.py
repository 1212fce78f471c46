from __future__ import annotations

import pytest

from ocrlab.config import ConfigError
from ocrlab.schedules import ScheduleConfig, schedule_value


def test_constant():
    assert schedule_value(ScheduleConfig(value=0.3), 12345) == 0.3


def test_step_at_step_and_at_epoch():
    s = ScheduleConfig(kind="step", value=0.1, end=1.0, start_step=100)
    assert [schedule_value(s, k) for k in (0, 99, 100, 5000)] == [0.1, 0.1, 1.0, 1.0]
    e = ScheduleConfig(kind="step", value=0.0, end=0.5, at_epoch=2)
    assert schedule_value(e, 19, steps_per_epoch=10) == 0.0
    assert schedule_value(e, 20, steps_per_epoch=10) == 0.5
    with pytest.raises(ConfigError, match="epoch length"):
        schedule_value(e, 5)


def test_linear_ramp():
    s = ScheduleConfig(kind="linear", value=0.0, end=1.0, start_step=10, end_step=20)
    values = [schedule_value(s, k) for k in (0, 10, 15, 20, 99)]
    assert values == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])


def test_cosine_ramp_is_smooth_and_symmetric():
    s = ScheduleConfig(kind="cosine", value=1.0, end=0.0, start_step=0, end_step=100)
    assert schedule_value(s, 0) == pytest.approx(1.0)
    assert schedule_value(s, 50) == pytest.approx(0.5)
    assert schedule_value(s, 25) == pytest.approx(0.5 + 0.5 * 2**-0.5)
    assert schedule_value(s, 100) == pytest.approx(0.0)


def test_bad_schedules():
    with pytest.raises(ConfigError, match="kind"):
        ScheduleConfig(kind="exponential")
    with pytest.raises(ConfigError, match="end_step"):
        ScheduleConfig(kind="linear", start_step=5, end_step=5)
