/// The identifying fields of a call: the caller's line identity and who they said they are.
///
/// Everything here is erased when a caller asks to stay anonymous. The location of the
/// incident is deliberately not here: it identifies a place, not the caller.
public struct CallerIdentity: Sendable, Equatable, Codable {
    public var cli: String?
    public var name: String?
    public var contact: String?
    public var address: String?

    public init(cli: String? = nil, name: String? = nil, contact: String? = nil, address: String? = nil) {
        self.cli = cli
        self.name = name
        self.contact = contact
        self.address = address
    }

    public var isEmpty: Bool { cli == nil && name == nil && contact == nil && address == nil }

    /// The dotted field names present, as `stripped` lists them.
    public var fieldPaths: [String] {
        var paths: [String] = []
        if cli != nil { paths.append("cli") }
        if name != nil { paths.append("caller.name") }
        if contact != nil { paths.append("caller.contact") }
        if address != nil { paths.append("caller.address") }
        return paths
    }

    /// `other`'s fields laid over these: the fields an update sets replace earlier ones.
    public func merging(_ other: CallerIdentity) -> CallerIdentity {
        CallerIdentity(
            cli: other.cli ?? cli,
            name: other.name ?? name,
            contact: other.contact ?? contact,
            address: other.address ?? address
        )
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let cli { members["cli"] = .string(cli) }
        var caller: [String: JSONValue] = [:]
        if let name { caller["name"] = .string(name) }
        if let contact { caller["contact"] = .string(contact) }
        if let address { caller["address"] = .string(address) }
        if !caller.isEmpty { members["caller"] = .object(caller) }
        return .object(members)
    }

    public init(json: JSONValue) {
        self.init(
            cli: json["cli"]?.stringValue,
            name: json["caller"]?["name"]?.stringValue,
            contact: json["caller"]?["contact"]?.stringValue,
            address: json["caller"]?["address"]?.stringValue
        )
    }
}
