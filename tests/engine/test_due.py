"""What is due after a step: the pure decision behind the trainer's log rows, validations and checkpoints."""
from engine.trainer import Due, TrainConfig


def due(step, epochs_done=0, epoch_ends=False, validating=True, **config):
    return Due.after_step(step, epochs_done, epoch_ends, TrainConfig(**{"epochs": 3, **config}), validating)


def test_nothing_is_due_between_rows():
    assert due(7) == Due(epoch_ends=False, run_ends=False, validation=False, final_validation=False,
                         checkpoint=False, row=False)


def test_a_row_every_log_every_steps_without_validation_or_checkpoint():
    assert due(100, log_every=50) == Due(epoch_ends=False, run_ends=False, validation=False,
                                         final_validation=False, checkpoint=False, row=True)


def test_an_epoch_end_validates_saves_and_logs():
    assert due(8, epochs_done=0, epoch_ends=True) == Due(epoch_ends=True, run_ends=False, validation=True,
                                                         final_validation=False, checkpoint=True, row=True)


def test_the_last_epoch_end_ends_the_run_with_its_regular_validation():
    got = due(24, epochs_done=2, epoch_ends=True)
    assert got.run_ends and got.validation and not got.final_validation and got.checkpoint and got.row


def test_a_step_budget_ends_the_run_with_a_final_validation_off_the_val_every_grid():
    got = due(10, epochs=None, max_steps=10, val_every=4)
    assert got == Due(epoch_ends=False, run_ends=True, validation=False, final_validation=True, checkpoint=True,
                      row=True)
    assert due(12, epochs=None, max_steps=12, val_every=4).validation
    assert not due(12, epochs=None, max_steps=12, val_every=4).final_validation


def test_val_every_replaces_the_epoch_end_validation():
    assert not due(8, epoch_ends=True, val_every=5).validation
    assert due(10, val_every=5).validation and due(10, val_every=5).row


def test_no_validation_without_validation_data():
    got = due(10, epochs=None, max_steps=10, validating=False)
    assert not got.validation and not got.final_validation and got.run_ends and got.row


def test_checkpoint_every_saves_between_rows_without_a_row():
    got = due(10, checkpoint_every=5, log_every=50)
    assert got.checkpoint and not got.row
