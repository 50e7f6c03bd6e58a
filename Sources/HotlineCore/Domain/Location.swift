/// Where the incident is (not where the caller is): free text and optional coordinates.
public struct Location: Sendable, Equatable {
    public var text: String?
    public var lat: Double?
    public var lon: Double?

    public init(text: String? = nil, lat: Double? = nil, lon: Double? = nil) {
        self.text = text
        self.lat = lat
        self.lon = lon
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let text { members["text"] = .string(text) }
        if let lat { members["lat"] = .double(lat) }
        if let lon { members["lon"] = .double(lon) }
        return .object(members)
    }

    public init(json: JSONValue) {
        self.init(text: json["text"]?.stringValue, lat: json["lat"]?.doubleValue, lon: json["lon"]?.doubleValue)
    }
}
