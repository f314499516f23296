"""The buffered dense block (each layer writes into one preallocated buffer, no concatenation) is the same
network as the concatenating one: same parameters, same outputs, same gradients, same BatchNorm statistics."""
import copy

import pytest
import torch

from bannb.models import create_model
from bannb.models.densenet import DenseBlock


def buffered(model):
    model = copy.deepcopy(model)
    blocks = [module for module in model.modules() if isinstance(module, DenseBlock)]
    assert len(blocks) == 3
    for block in blocks:
        block.buffered = True
    return model


@pytest.mark.parametrize("channels_last", [False, True])
def test_same_outputs_and_gradients_as_the_concatenating_block(channels_last):
    torch.manual_seed(0)
    concat = create_model("densenet-bc-22-4", 3, 10)
    fast = buffered(concat)
    assert sum(p.numel() for p in fast.parameters()) == sum(p.numel() for p in concat.parameters())
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    concat.to(memory_format=memory_format)
    fast.to(memory_format=memory_format)
    images = torch.randn(6, 3, 16, 16).contiguous(memory_format=memory_format)
    for model in (concat, fast):
        model(images).logsumexp(1).sum().backward()
    torch.testing.assert_close(fast(images), concat(images), rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(concat.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)
    for (name, a), b in zip(concat.named_buffers(), fast.buffers()):
        torch.testing.assert_close(b, a, msg=name)


def test_under_bf16_autocast_the_outputs_match_within_bf16_rounding():
    torch.manual_seed(0)
    concat = create_model("densenet-bc-22-4", 1, 10)
    fast = buffered(concat)
    images = torch.randn(4, 1, 12, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = concat(images).float(), fast(images).float()
    torch.testing.assert_close(got, expected, rtol=0.0, atol=0.0)
