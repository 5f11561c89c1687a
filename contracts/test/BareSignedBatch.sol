// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {MarketUpdate, Batch} from "../interfaces/IMarginParameterRegistry.sol";
import {MARKET_UPDATE_TYPEHASH, BATCH_TYPEHASH} from "../libraries/ConstantsLib.sol";

/// @notice Gas baseline only: the same signed batch (EIP-712, one signer, nonce, deadline), one packed slot and
/// one event per market, but no guardrails, ramps, invariants or multi-sig. The registry's extra cost over this
/// is the price of its safety checks.
contract BareSignedBatch is EIP712 {
    address public immutable signer;
    uint256 public nonce_;
    mapping(bytes32 => uint256) public packed;

    event Updated(bytes32 indexed market, uint16 ltvBps, uint16 liquidationThresholdBps, uint16 liquidationBonusBps);

    constructor(address signer_) EIP712("MarginParameterRegistry", "1") {
        signer = signer_;
    }

    function submitUpdates(Batch calldata batch, bytes calldata signature) external {
        require(block.timestamp <= batch.deadline, "expired");
        require(batch.nonce == nonce_++, "nonce");
        MarketUpdate[] calldata updates = batch.updates; // decoded once, as in the registry
        uint256 n = updates.length;
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            MarketUpdate calldata u = updates[i];
            hashes[i] = keccak256(
                abi.encode(MARKET_UPDATE_TYPEHASH, u.market, u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps)
            );
        }
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    BATCH_TYPEHASH,
                    batch.chainId,
                    batch.nonce,
                    batch.deadline,
                    batch.inputsHash,
                    batch.modelVersion,
                    keccak256(abi.encodePacked(hashes))
                )
            )
        );
        require(ECDSA.recover(digest, signature) == signer, "signer");
        for (uint256 i; i < n; ++i) {
            MarketUpdate calldata u = updates[i];
            packed[u.market] = uint256(u.ltvBps) | (uint256(u.liquidationThresholdBps) << 16)
                | (uint256(u.liquidationBonusBps) << 32) | (block.timestamp << 48);
            emit Updated(u.market, u.ltvBps, u.liquidationThresholdBps, u.liquidationBonusBps);
        }
    }
}
