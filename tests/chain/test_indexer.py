"""The event indexer on anvil: confirmations, idempotence, and reorganizations made with
``evm_snapshot``/``evm_revert``."""

from __future__ import annotations

from tests.chain.support import NMR, ROUND, AnvilChain, file_hash

from crowdalpha.chain import Indexer, MemoryEventStore, Sender
from crowdalpha.chain.view import ChainView


def indexer(chain: AnvilChain, store: MemoryEventStore, confirmations: int) -> Indexer:
    return Indexer(
        chain.w3,
        token=chain.deployment.token,
        staking=chain.deployment.staking,
        store=store,
        start_block=chain.deployment.block,
        confirmations=confirmations,
        batch_blocks=7,  # several ranges per poll
    )


def stake(chain: AnvilChain, name: str, model_id: int, amount: int) -> Sender:
    sender = chain.sender(name)
    chain.token.transfer(chain.operator, sender.address, amount)
    chain.token.approve(sender, chain.staking.address, amount)
    signed = chain.signer.authorize(
        staker=sender.address,
        tournament_id=8,
        round_id=ROUND,
        model_id=model_id,
        submission_id=model_id,
        submission_hash=file_hash(name),
        max_amount=amount,
        deadline=chain.anvil.timestamp() + 600,
    )
    chain.staking.stake(sender, signed, amount)
    return sender


def names(events: object) -> list[str]:
    return [e.name for e in events]  # type: ignore[attr-defined]


def test_only_confirmed_events_are_indexed_and_only_once(chain: AnvilChain) -> None:
    chain.open_round()
    alice = stake(chain, "alice", 1, 3 * NMR)
    store = MemoryEventStore()
    deep = indexer(chain, store, confirmations=3)
    first = deep.poll()
    head = chain.w3.eth.block_number
    assert first.head is not None and first.head.number == head - 3
    assert all(e.block_number <= head - 3 for e in store.events())
    assert "Staked" not in names(store.events())  # its block is not 3 deep yet
    chain.anvil.mine(3)
    second = deep.poll()
    assert names(second.added)[-1] == "Staked" and second.removed == ()
    assert deep.poll().added == ()  # nothing new: nothing added
    # Indexing the same blocks again (a restart from an old head) adds nothing.
    store.rollback(None)
    again = deep.poll()
    assert [e.key for e in again.added] == [e.key for e in first.added + second.added]
    view = ChainView.from_events(store.events())
    assert view.stakes[(ROUND, 1)].staker == alice.address
    assert view.stakes[(ROUND, 1)].amount == 3 * NMR
    assert view.round_stakes(ROUND) == {1: view.stakes[(ROUND, 1)]}
    # The token's Transfers follow every balance; the view's supply is the token's.
    assert view.supply == chain.token.total_supply()
    assert view.balances[chain.staking.address] == 3 * NMR


def test_a_reorganization_removes_orphaned_events_and_indexes_the_new_chain(
    chain: AnvilChain,
) -> None:
    chain.open_round()
    store = MemoryEventStore()
    follower = indexer(chain, store, confirmations=0)
    follower.poll()
    fork = chain.anvil.snapshot()
    stake(chain, "alice", 1, 3 * NMR)
    stake(chain, "bob", 2, 4 * NMR)
    before = follower.poll()
    orphaned = [e for e in before.added if e.name == "Staked"]
    assert len(orphaned) == 2

    # The other branch: the chain goes back, and carol stakes instead (fewer blocks).
    chain.anvil.revert(fork)
    chain.operator.reset_nonce()
    stake(chain, "carol", 3, 5 * NMR)
    after = follower.poll()
    assert {e.key for e in after.removed} >= {e.key for e in orphaned}
    assert [e.args["model_id"] for e in after.added if e.name == "Staked"] == [3]

    # The store now holds exactly what a fresh indexer finds on the new chain.
    fresh = MemoryEventStore()
    indexer(chain, fresh, confirmations=0).poll()
    assert [e.key for e in store.events()] == [e.key for e in fresh.events()]
    view = ChainView.from_events(store.events())
    assert set(view.round_stakes(ROUND)) == {3}
    assert view.supply == chain.token.total_supply()


def test_a_reorganization_shallower_than_the_confirmations_changes_nothing(
    chain: AnvilChain,
) -> None:
    chain.open_round()
    chain.anvil.mine(5)
    store = MemoryEventStore()
    safe = indexer(chain, store, confirmations=4)
    safe.poll()
    kept = [e.key for e in store.events()]
    fork = chain.anvil.snapshot()
    stake(chain, "alice", 1, NMR)  # 3 blocks: transfer, approve, stake
    chain.anvil.revert(fork)
    chain.operator.reset_nonce()
    stake(chain, "bob", 2, NMR)
    update = safe.poll()
    assert update.removed == ()
    assert [e.key for e in store.events()][: len(kept)] == kept
