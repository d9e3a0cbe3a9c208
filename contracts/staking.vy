# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title crowdalpha staking: signed stakes per round, one Merkle root per resolution
@custom:contract-name staking
@license MIT
@notice Participants stake NMR on a submission in a round. Each stake needs an
        EIP-712 authorization from the platform's signer, bound to the staker, the
        tournament and round, the model, the submission and its file's hash, a most
        amount, a nonce and a deadline; the stake itself is pulled with `transferFrom`
        (after `approve`, or with an EIP-2612 permit in the same transaction).

        A model has one staker per round (the first wallet to stake on it); its stakes
        in the round add up. When a round resolves, the owner posts ONE transaction:
        the Merkle root of one leaf per staked model (staker, model, submission, payout,
        burn), the round's total
        payout and total burn. The total burn is destroyed right away and any reward
        above the stakes is pulled from the service wallet, so the number of operator
        transactions per round does not grow with the number of stakers. Every staker
        (or anyone for them) then claims a model's payout with a proof, once; the `Claimed`
        event carries the staker's burn too, so each burn is visible on chain. After the
        claim deadline, whatever is unclaimed goes back to the service wallet (`sweep`).

        Nobody can take stakes: a round that is cancelled, or that is not resolved
        within `RESOLUTION_GRACE` seconds of its resolve time, refunds every stake in
        full. Claims can never pay out more than the round's posted total payout.

        Leaves are OpenZeppelin `StandardMerkleTree` leaves:
        keccak256(keccak256(abi.encode(address staker, uint256 model, uint256 submission,
        uint256 payout, uint256 burn))), pairs hashed sorted. Model and submission ids
        are the platform's ids as integers (a UUID as its 128-bit number).
"""

from ethereum.ercs import IERC20

from snekmate.auth import ownable
initializes: ownable

from snekmate.auth import ownable_2step
initializes: ownable_2step[ownable := ownable]

from snekmate.utils import pausable
initializes: pausable

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

from snekmate.utils import ecdsa
from snekmate.utils import merkle_proof_verification as mpv

# Two-step ownership without `renounce_ownership`: an ownerless contract could never
# open or resolve a round again.
exports: (
    ownable_2step.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    pausable.paused,
    eip712.eip712Domain,
)


interface INMR:
    def burn(amount: uint256): nonpayable


# -- round states, as `round_state` reports them ------------------------------------
STATE_UNKNOWN: constant(uint8) = 0  # never opened
STATE_PENDING: constant(uint8) = 1  # opened, before its open time
STATE_OPEN: constant(uint8) = 2  # taking stakes
STATE_CLOSED: constant(uint8) = 3  # stakes locked, waiting for the root
STATE_RESOLVED: constant(uint8) = 4  # root posted, claims open
STATE_EXPIRED: constant(uint8) = 5  # claim deadline passed
STATE_CANCELLED: constant(uint8) = 6  # cancelled by the owner: stakes refundable
STATE_ABANDONED: constant(uint8) = 7  # not resolved in time: stakes refundable

_AUTHORIZATION_TYPE_HASH: constant(bytes32) = keccak256(
    "StakeAuthorization(address staker,uint256 tournamentId,uint256 roundId,uint256 modelId,"
    "uint256 submissionId,bytes32 submissionHash,uint256 maxAmount,uint256 nonce,uint256 deadline)"
)

# A settlement word packs what a claim reads and writes into one storage slot:
# unclaimed payout (bits 0-95), unattributed burn (96-191), claim deadline (192-255).
# A stake word packs a model's staker (bits 96-255) and its stake (bits 0-95).
# 2^96 base units is 79 billion NMR: far above any supply cap.
_AMOUNT_MASK: constant(uint256) = 2**96 - 1
_STAKER_SHIFT: constant(uint256) = 96
_BURN_SHIFT: constant(uint256) = 96
_DEADLINE_SHIFT: constant(uint256) = 192

_MIN_PERIOD: constant(uint256) = 86_400  # one day
_MAX_PROOF: constant(uint256) = 32  # a tree of up to 2^32 leaves


struct Round:
    tournament_id: uint256
    open_time: uint256
    close_time: uint256  # stakes are taken in [open_time, close_time)
    resolve_time: uint256  # when the round is expected to resolve
    stake_cap: uint256  # most base units staked in the round in all (0: no cap)
    stake_threshold: uint256  # total stake above which payouts scale down (0: none)
    total_staked: uint256  # base units at stake now (refunds lower it)
    cancelled: bool


TOKEN: public(immutable(address))
CLAIM_PERIOD: public(immutable(uint256))  # seconds from resolution to the claim deadline
RESOLUTION_GRACE: public(immutable(uint256))  # seconds after resolve_time before refunds

authorization_signer: public(address)
guardian: public(address)
service_wallet: public(address)

rounds: public(HashMap[uint256, Round])
merkle_root: public(HashMap[uint256, bytes32])
authorization_used: public(HashMap[address, HashMap[uint256, bool]])  # staker -> nonce

_stakes: HashMap[uint256, HashMap[uint256, uint256]]  # round -> model -> stake word
_settlement: HashMap[uint256, uint256]  # round -> settlement word
# round -> model_id >> 8 -> bitmap of claimed models (one storage word per 256 models)
_claimed: HashMap[uint256, HashMap[uint256, uint256]]


event RoundOpened:
    round_id: indexed(uint256)
    tournament_id: indexed(uint256)
    open_time: uint256
    close_time: uint256
    resolve_time: uint256
    stake_cap: uint256
    stake_threshold: uint256

event RoundCancelled:
    round_id: indexed(uint256)

event Staked:
    round_id: indexed(uint256)
    staker: indexed(address)
    model_id: indexed(uint256)
    submission_id: uint256
    submission_hash: bytes32
    amount: uint256
    nonce: uint256

event RoundResolved:
    round_id: indexed(uint256)
    merkle_root: bytes32
    total_staked: uint256
    total_payout: uint256
    total_burn: uint256
    reward: uint256
    claim_deadline: uint256

event Claimed:
    round_id: indexed(uint256)
    staker: indexed(address)
    model_id: indexed(uint256)
    submission_id: uint256
    payout: uint256
    burn: uint256

event Swept:
    round_id: indexed(uint256)
    service_wallet: indexed(address)
    amount: uint256

event Refunded:
    round_id: indexed(uint256)
    staker: indexed(address)
    model_id: indexed(uint256)
    amount: uint256

event AuthorizationSignerChanged:
    previous_signer: indexed(address)
    new_signer: indexed(address)

event GuardianChanged:
    previous_guardian: indexed(address)
    new_guardian: indexed(address)

event ServiceWalletChanged:
    previous_wallet: indexed(address)
    new_wallet: indexed(address)


@deploy
def __init__(
    token_: address,
    authorization_signer_: address,
    service_wallet_: address,
    guardian_: address,
    claim_period_: uint256,
    resolution_grace_: uint256,
):
    """
    @dev The deployer becomes the owner.
    @param token_ The NMR token.
    @param authorization_signer_ The platform key that signs stake authorizations.
    @param service_wallet_ Pays rewards above stakes; receives swept payouts.
    @param guardian_ May pause and unpause (the owner may too).
    @param claim_period_ Seconds from resolution until unclaimed payouts can be swept.
    @param resolution_grace_ Seconds after a round's resolve time before its stakes
           become refundable if it has not been resolved.
    """
    assert token_ != empty(address), "staking: token is the zero address"
    assert authorization_signer_ != empty(address), "staking: signer is the zero address"
    assert service_wallet_ != empty(address), "staking: service wallet is the zero address"
    assert guardian_ != empty(address), "staking: guardian is the zero address"
    assert claim_period_ >= _MIN_PERIOD, "staking: claim period under a day"
    assert resolution_grace_ >= _MIN_PERIOD, "staking: resolution grace under a day"
    ownable.__init__()
    ownable_2step.__init__()
    pausable.__init__()
    eip712.__init__("crowdalpha staking", "1")
    TOKEN = token_
    CLAIM_PERIOD = claim_period_
    RESOLUTION_GRACE = resolution_grace_
    self.authorization_signer = authorization_signer_
    self.service_wallet = service_wallet_
    self.guardian = guardian_
    log AuthorizationSignerChanged(previous_signer=empty(address), new_signer=authorization_signer_)
    log ServiceWalletChanged(previous_wallet=empty(address), new_wallet=service_wallet_)
    log GuardianChanged(previous_guardian=empty(address), new_guardian=guardian_)


# -- configuration ----------------------------------------------------------------------


@external
def set_authorization_signer(new_signer: address):
    """
    @dev Rotates the authorization key; authorizations signed by the old key stop working.
    """
    ownable._check_owner()
    assert new_signer != empty(address), "staking: signer is the zero address"
    log AuthorizationSignerChanged(previous_signer=self.authorization_signer, new_signer=new_signer)
    self.authorization_signer = new_signer


@external
def set_guardian(new_guardian: address):
    ownable._check_owner()
    assert new_guardian != empty(address), "staking: guardian is the zero address"
    log GuardianChanged(previous_guardian=self.guardian, new_guardian=new_guardian)
    self.guardian = new_guardian


@external
def set_service_wallet(new_wallet: address):
    ownable._check_owner()
    assert new_wallet != empty(address), "staking: service wallet is the zero address"
    log ServiceWalletChanged(previous_wallet=self.service_wallet, new_wallet=new_wallet)
    self.service_wallet = new_wallet


@external
def pause():
    """
    @dev Stops stakes, claims, sweeps and refunds (the guardian or the owner).
    """
    self._check_guardian()
    pausable._pause()


@external
def unpause():
    self._check_guardian()
    pausable._unpause()


# -- rounds -----------------------------------------------------------------------------


@external
def open_round(
    round_id: uint256,
    tournament_id: uint256,
    open_time: uint256,
    close_time: uint256,
    resolve_time: uint256,
    stake_cap: uint256,
    stake_threshold: uint256,
):
    """
    @dev Declares a round: it takes stakes in [open_time, close_time). Round ids are
         unique across tournaments.
    """
    ownable._check_owner()
    assert self.rounds[round_id].close_time == 0, "round: already exists"
    assert open_time < close_time, "round: closes before it opens"
    assert close_time <= resolve_time, "round: resolves before it closes"
    assert close_time > block.timestamp, "round: already closed"
    self.rounds[round_id] = Round(
        tournament_id=tournament_id,
        open_time=open_time,
        close_time=close_time,
        resolve_time=resolve_time,
        stake_cap=stake_cap,
        stake_threshold=stake_threshold,
        total_staked=0,
        cancelled=False,
    )
    log RoundOpened(
        round_id=round_id,
        tournament_id=tournament_id,
        open_time=open_time,
        close_time=close_time,
        resolve_time=resolve_time,
        stake_cap=stake_cap,
        stake_threshold=stake_threshold,
    )


@external
def cancel_round(round_id: uint256):
    """
    @dev Cancels an unresolved round; every stake in it becomes refundable.
    """
    ownable._check_owner()
    assert self.rounds[round_id].close_time != 0, "round: unknown"
    assert not self.rounds[round_id].cancelled, "round: cancelled"
    assert self.merkle_root[round_id] == empty(bytes32), "round: already resolved"
    self.rounds[round_id].cancelled = True
    log RoundCancelled(round_id=round_id)


# -- staking ----------------------------------------------------------------------------


@external
def stake(
    round_id: uint256,
    model_id: uint256,
    submission_id: uint256,
    submission_hash: bytes32,
    amount: uint256,
    max_amount: uint256,
    nonce: uint256,
    deadline: uint256,
    signature: Bytes[65],
):
    """
    @dev Stakes `amount` of the caller's NMR (approved to this contract beforehand) on
         a submission, under the platform's authorization `signature`.
    """
    self._stake(round_id, model_id, submission_id, submission_hash, amount, max_amount, nonce, deadline, signature)


@external
def stake_with_permit(
    round_id: uint256,
    model_id: uint256,
    submission_id: uint256,
    submission_hash: bytes32,
    amount: uint256,
    max_amount: uint256,
    nonce: uint256,
    deadline: uint256,
    signature: Bytes[65],
    permit_deadline: uint256,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @dev `stake` with the caller's EIP-2612 permit for `amount` in the same transaction.
         A permit that fails (someone already submitted it) is ignored: the transfer
         then needs the allowance it would have set.
    """
    permitted: bool = raw_call(
        TOKEN,
        abi_encode(
            msg.sender,
            self,
            amount,
            permit_deadline,
            v,
            r,
            s,
            method_id=method_id("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"),
        ),
        revert_on_failure=False,
    )
    self._stake(round_id, model_id, submission_id, submission_hash, amount, max_amount, nonce, deadline, signature)


@external
@view
def authorization_digest(
    staker: address,
    round_id: uint256,
    model_id: uint256,
    submission_id: uint256,
    submission_hash: bytes32,
    max_amount: uint256,
    nonce: uint256,
    deadline: uint256,
) -> bytes32:
    """
    @dev The EIP-712 digest the authorization signer signs for these values.
    """
    return self._authorization_digest(
        staker, self.rounds[round_id].tournament_id, round_id, model_id, submission_id, submission_hash, max_amount, nonce, deadline
    )


# -- resolution and claims --------------------------------------------------------------


@external
def post_root(round_id: uint256, root: bytes32, total_payout: uint256, total_burn: uint256):
    """
    @dev Resolves a closed round: records the Merkle root of its leaves, burns
         `total_burn` of the stakes and pulls the reward above the stakes
         (`total_payout + total_burn - total_staked`) from the service wallet.
         Payouts plus burns must cover the stakes exactly or more.
    """
    ownable._check_owner()
    close_time: uint256 = self.rounds[round_id].close_time
    assert close_time != 0, "round: unknown"
    assert not self.rounds[round_id].cancelled, "round: cancelled"
    assert block.timestamp >= close_time, "round: not closed"
    assert self.merkle_root[round_id] == empty(bytes32), "round: already resolved"
    assert (
        block.timestamp <= self.rounds[round_id].resolve_time + RESOLUTION_GRACE
    ), "round: abandoned"
    assert root != empty(bytes32), "root: empty"
    assert total_payout <= _AMOUNT_MASK and total_burn <= _AMOUNT_MASK, "root: amount too large"
    total_staked: uint256 = self.rounds[round_id].total_staked
    assert total_burn <= total_staked, "root: burns more than the stakes"
    assert total_payout + total_burn >= total_staked, "root: does not cover the stakes"
    reward: uint256 = total_payout + total_burn - total_staked
    claim_deadline: uint256 = block.timestamp + CLAIM_PERIOD
    self.merkle_root[round_id] = root
    self._settlement[round_id] = self._pack(total_payout, total_burn, claim_deadline)
    if reward > 0:
        assert extcall IERC20(TOKEN).transferFrom(self.service_wallet, self, reward), "root: reward transfer failed"
    if total_burn > 0:
        extcall INMR(TOKEN).burn(total_burn)
    log RoundResolved(
        round_id=round_id,
        merkle_root=root,
        total_staked=total_staked,
        total_payout=total_payout,
        total_burn=total_burn,
        reward=reward,
        claim_deadline=claim_deadline,
    )


@external
def claim(
    round_id: uint256,
    staker: address,
    model_id: uint256,
    submission_id: uint256,
    payout: uint256,
    burn: uint256,
    proof: DynArray[bytes32, _MAX_PROOF],
):
    """
    @dev Pays a model's payout in a resolved round to its staker, once (anyone may
         submit it), and records the model's burn in the `Claimed` event.
    """
    pausable._require_not_paused()
    root: bytes32 = self.merkle_root[round_id]
    assert root != empty(bytes32), "claim: round not resolved"
    word: uint256 = self._settlement[round_id]
    payout_left: uint256 = word & _AMOUNT_MASK
    burn_left: uint256 = (word >> _BURN_SHIFT) & _AMOUNT_MASK
    claim_deadline: uint256 = word >> _DEADLINE_SHIFT
    assert block.timestamp <= claim_deadline, "claim: claim period over"
    bucket: uint256 = model_id >> 8
    bit: uint256 = 1 << (model_id & 255)
    claimed_word: uint256 = self._claimed[round_id][bucket]
    assert claimed_word & bit == 0, "claim: already claimed"
    leaf: bytes32 = keccak256(
        keccak256(abi_encode(staker, model_id, submission_id, payout, burn))
    )
    assert mpv._verify(proof, root, leaf), "claim: invalid proof"
    assert payout <= payout_left, "claim: exceeds the round's unclaimed payout"
    self._claimed[round_id][bucket] = claimed_word | bit
    # A burn above what is left to attribute can only come from a wrong root; the
    # burn itself already happened in `post_root`, so this only saturates the count.
    self._settlement[round_id] = self._pack(
        payout_left - payout, burn_left - min(burn, burn_left), claim_deadline
    )
    if payout > 0:
        assert extcall IERC20(TOKEN).transfer(staker, payout), "claim: transfer failed"
    log Claimed(
        round_id=round_id,
        staker=staker,
        model_id=model_id,
        submission_id=submission_id,
        payout=payout,
        burn=burn,
    )


@external
def sweep(round_id: uint256):
    """
    @dev After the claim deadline, sends the round's unclaimed payout to the service
         wallet (anyone may call it).
    """
    pausable._require_not_paused()
    assert self.merkle_root[round_id] != empty(bytes32), "sweep: round not resolved"
    word: uint256 = self._settlement[round_id]
    payout_left: uint256 = word & _AMOUNT_MASK
    assert block.timestamp > word >> _DEADLINE_SHIFT, "sweep: claim period not over"
    assert payout_left > 0, "sweep: nothing to sweep"
    self._settlement[round_id] = word & ~_AMOUNT_MASK
    wallet: address = self.service_wallet
    assert extcall IERC20(TOKEN).transfer(wallet, payout_left), "sweep: transfer failed"
    log Swept(round_id=round_id, service_wallet=wallet, amount=payout_left)


@external
def refund(round_id: uint256, model_id: uint256):
    """
    @dev Returns a model's whole stake in a cancelled or abandoned round to its staker
         (anyone may call it).
    """
    pausable._require_not_paused()
    assert self._refundable(round_id), "refund: round not cancelled or abandoned"
    word: uint256 = self._stakes[round_id][model_id]
    amount: uint256 = word & _AMOUNT_MASK
    assert amount > 0, "refund: nothing staked"
    staker: address = convert(convert(word >> _STAKER_SHIFT, uint160), address)
    self._stakes[round_id][model_id] = word & ~_AMOUNT_MASK  # keeps the model's staker
    self.rounds[round_id].total_staked -= amount
    assert extcall IERC20(TOKEN).transfer(staker, amount), "refund: transfer failed"
    log Refunded(round_id=round_id, staker=staker, model_id=model_id, amount=amount)


# -- views ------------------------------------------------------------------------------


@external
@view
def settlement(round_id: uint256) -> (uint256, uint256, uint256):
    """
    @dev (unclaimed payout, burn not yet shown in a `Claimed` event, claim deadline);
         zeros before resolution.
    """
    word: uint256 = self._settlement[round_id]
    return word & _AMOUNT_MASK, (word >> _BURN_SHIFT) & _AMOUNT_MASK, word >> _DEADLINE_SHIFT


@external
@view
def is_claimed(round_id: uint256, model_id: uint256) -> bool:
    return self._claimed[round_id][model_id >> 8] & (1 << (model_id & 255)) != 0


@external
@view
def stake_of(round_id: uint256, model_id: uint256) -> (address, uint256):
    """
    @dev (staker, base units at stake) of a model in a round; (0x0, 0) if never staked.
    """
    word: uint256 = self._stakes[round_id][model_id]
    return convert(convert(word >> _STAKER_SHIFT, uint160), address), word & _AMOUNT_MASK


@external
@view
def round_state(round_id: uint256) -> uint8:
    """
    @dev One of the STATE_* constants at the current block's time.
    """
    rnd: Round = self.rounds[round_id]
    if rnd.close_time == 0:
        return STATE_UNKNOWN
    if rnd.cancelled:
        return STATE_CANCELLED
    if self.merkle_root[round_id] != empty(bytes32):
        if block.timestamp > self._settlement[round_id] >> _DEADLINE_SHIFT:
            return STATE_EXPIRED
        return STATE_RESOLVED
    if block.timestamp < rnd.open_time:
        return STATE_PENDING
    if block.timestamp < rnd.close_time:
        return STATE_OPEN
    if block.timestamp > rnd.resolve_time + RESOLUTION_GRACE:
        return STATE_ABANDONED
    return STATE_CLOSED


@external
@view
def payout_factor(round_id: uint256) -> uint256:
    """
    @dev min(1, stake_threshold / total_staked) scaled by 10^18: the factor by which a
         round's payouts shrink when more is staked than the threshold (1 without one).
    """
    threshold: uint256 = self.rounds[round_id].stake_threshold
    total: uint256 = self.rounds[round_id].total_staked
    if threshold == 0 or total <= threshold:
        return 10**18
    return threshold * 10**18 // total


# -- internals --------------------------------------------------------------------------


@internal
def _stake(
    round_id: uint256,
    model_id: uint256,
    submission_id: uint256,
    submission_hash: bytes32,
    amount: uint256,
    max_amount: uint256,
    nonce: uint256,
    deadline: uint256,
    signature: Bytes[65],
):
    pausable._require_not_paused()
    assert block.timestamp <= deadline, "stake: authorization expired"
    assert amount > 0, "stake: amount is zero"
    assert amount <= max_amount, "stake: amount above the authorized most"
    assert not self.authorization_used[msg.sender][nonce], "stake: authorization already used"
    rnd: Round = self.rounds[round_id]
    assert rnd.close_time != 0, "round: unknown"
    assert not rnd.cancelled, "round: cancelled"
    assert block.timestamp >= rnd.open_time, "round: not open yet"
    assert block.timestamp < rnd.close_time, "round: closed"
    digest: bytes32 = self._authorization_digest(
        msg.sender, rnd.tournament_id, round_id, model_id, submission_id, submission_hash, max_amount, nonce, deadline
    )
    assert ecdsa._recover_sig(digest, signature) == self.authorization_signer, "stake: invalid authorization"
    total: uint256 = rnd.total_staked + amount
    assert rnd.stake_cap == 0 or total <= rnd.stake_cap, "stake: round stake cap reached"
    word: uint256 = self._stakes[round_id][model_id]
    if word != 0:
        assert (
            convert(convert(word >> _STAKER_SHIFT, uint160), address) == msg.sender
        ), "stake: model staked by another wallet"
    model_stake: uint256 = (word & _AMOUNT_MASK) + amount
    assert model_stake <= _AMOUNT_MASK, "stake: amount too large"
    self.authorization_used[msg.sender][nonce] = True
    self.rounds[round_id].total_staked = total
    self._stakes[round_id][model_id] = (
        (convert(convert(msg.sender, uint160), uint256) << _STAKER_SHIFT) | model_stake
    )
    assert extcall IERC20(TOKEN).transferFrom(msg.sender, self, amount), "stake: transfer failed"
    log Staked(
        round_id=round_id,
        staker=msg.sender,
        model_id=model_id,
        submission_id=submission_id,
        submission_hash=submission_hash,
        amount=amount,
        nonce=nonce,
    )


@internal
@view
def _authorization_digest(
    staker: address,
    tournament_id: uint256,
    round_id: uint256,
    model_id: uint256,
    submission_id: uint256,
    submission_hash: bytes32,
    max_amount: uint256,
    nonce: uint256,
    deadline: uint256,
) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(
            abi_encode(
                _AUTHORIZATION_TYPE_HASH,
                staker,
                tournament_id,
                round_id,
                model_id,
                submission_id,
                submission_hash,
                max_amount,
                nonce,
                deadline,
            )
        )
    )


@internal
@view
def _refundable(round_id: uint256) -> bool:
    close_time: uint256 = self.rounds[round_id].close_time
    if close_time == 0 or self.merkle_root[round_id] != empty(bytes32):
        return False
    if self.rounds[round_id].cancelled:
        return True
    return block.timestamp > self.rounds[round_id].resolve_time + RESOLUTION_GRACE


@internal
@view
def _check_guardian():
    assert msg.sender == self.guardian or msg.sender == ownable.owner, "staking: caller is not the guardian"


@internal
@pure
def _pack(payout_left: uint256, burn_left: uint256, claim_deadline: uint256) -> uint256:
    return payout_left | (burn_left << _BURN_SHIFT) | (claim_deadline << _DEADLINE_SHIFT)
