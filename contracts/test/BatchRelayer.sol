// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarginParameterRegistry, Batch} from "../interfaces/IMarginParameterRegistry.sol";

/// @notice Test relayer: forwards a signed batch to the registry from a contract, as a keeper network, a
/// multisig or a front-runner would. The transaction's calldata is then not the registry's; `oracle verify`
/// reads such a batch from the registry's events.
contract BatchRelayer {
    /// @notice Relays `batch` to `registry`'s fast path.
    function relay(IMarginParameterRegistry registry, Batch calldata batch, bytes[] calldata signatures) external {
        registry.submitUpdates(batch, signatures);
    }

    /// @notice Relays `batch` to `registry`'s governance path.
    function relayProposal(IMarginParameterRegistry registry, Batch calldata batch, bytes[] calldata signatures)
        external
    {
        registry.proposeUpdates(batch, signatures);
    }
}
