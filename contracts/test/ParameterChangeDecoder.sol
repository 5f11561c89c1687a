// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ParameterChange, ParameterChangeLib} from "../libraries/ParameterChangeLib.sol";

/// @notice Test harness exposing `ParameterChangeLib` (internal library functions need a contract to be called).
contract ParameterChangeDecoder {
    function decode(uint256 change) external pure returns (ParameterChange memory) {
        return ParameterChangeLib.decode(change);
    }

    function isThresholdCut(uint256 change) external pure returns (bool) {
        return ParameterChangeLib.isThresholdCut(ParameterChangeLib.decode(change));
    }
}
