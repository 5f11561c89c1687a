// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @notice Test aggregator with Chainlink's MockV3Aggregator semantics: each update opens and answers a new round
/// stamped with the block time; `updateRoundData` sets any round explicitly (for stale or incomplete rounds).
contract MockV3Aggregator is AggregatorV3Interface {
    uint8 public immutable decimals;
    uint256 public constant version = 0;
    string public description;

    uint256 public latestRound;
    mapping(uint256 => int256) public getAnswer;
    mapping(uint256 => uint256) public getTimestamp;
    mapping(uint256 => uint256) private _startedAt;
    mapping(uint256 => uint80) private _answeredInRound;

    constructor(uint8 decimals_, int256 initialAnswer, string memory description_) {
        decimals = decimals_;
        description = description_;
        updateAnswer(initialAnswer);
    }

    function updateAnswer(int256 answer) public {
        latestRound++;
        getAnswer[latestRound] = answer;
        getTimestamp[latestRound] = block.timestamp;
        _startedAt[latestRound] = block.timestamp;
        _answeredInRound[latestRound] = uint80(latestRound);
    }

    function updateRoundData(uint80 roundId, int256 answer, uint256 timestamp, uint256 startedAt) public {
        latestRound = roundId;
        getAnswer[roundId] = answer;
        getTimestamp[roundId] = timestamp;
        _startedAt[roundId] = startedAt;
        _answeredInRound[roundId] = roundId;
    }

    /// @notice A round carried over from an earlier one (`answeredInRound < roundId`), as a stalled feed reports.
    function setCarriedOverRound(uint80 roundId, int256 answer, uint256 timestamp, uint80 answeredInRound) public {
        latestRound = roundId;
        getAnswer[roundId] = answer;
        getTimestamp[roundId] = timestamp;
        _startedAt[roundId] = timestamp;
        _answeredInRound[roundId] = answeredInRound;
    }

    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, getAnswer[roundId], _startedAt[roundId], getTimestamp[roundId], _answeredInRound[roundId]);
    }

    /// @notice The latest answer, as Chainlink's legacy `AggregatorInterface` gives it: Aave v3's `AaveOracle`
    /// reads prices through this, not `latestRoundData`.
    function latestAnswer() external view returns (int256) {
        return getAnswer[latestRound];
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        uint80 r = uint80(latestRound);
        return (r, getAnswer[r], _startedAt[r], getTimestamp[r], _answeredInRound[r]);
    }
}
