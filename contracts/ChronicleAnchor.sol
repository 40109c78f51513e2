// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Append-only anchors of Chronicle digests (book: "Basic services — Chronicle").
/// Each chronicle (named by its module root) has one anchoring account; anchors
/// are strictly increasing in sequence and can never be overwritten, so a
/// rewritten Chronicle entry no longer matches the digest anchored for it.
contract ChronicleAnchor {
    struct Latest {
        uint64 seq;
        bytes32 digest;
        bool set;
    }

    mapping(bytes32 => address) public anchorer;
    mapping(bytes32 => mapping(uint64 => bytes32)) private digests;
    mapping(bytes32 => Latest) private latests;

    event Registered(bytes32 indexed chronicle, address anchorer);
    event Anchored(bytes32 indexed chronicle, uint64 seq, bytes32 digest);

    /// The first caller for a chronicle id becomes its anchoring account.
    function register(bytes32 chronicle) external {
        require(anchorer[chronicle] == address(0), "already registered");
        anchorer[chronicle] = msg.sender;
        emit Registered(chronicle, msg.sender);
    }

    function anchor(bytes32 chronicle, uint64 seq, bytes32 digest) external {
        require(anchorer[chronicle] == msg.sender, "not the anchorer");
        require(digest != bytes32(0), "zero digest");
        Latest storage last = latests[chronicle];
        require(!last.set || seq > last.seq, "sequence not increasing");
        digests[chronicle][seq] = digest;
        latests[chronicle] = Latest(seq, digest, true);
        emit Anchored(chronicle, seq, digest);
    }

    function digestAt(bytes32 chronicle, uint64 seq) external view returns (bytes32) {
        return digests[chronicle][seq];
    }

    function latest(bytes32 chronicle) external view returns (bool, uint64, bytes32) {
        Latest storage last = latests[chronicle];
        return (last.set, last.seq, last.digest);
    }
}
