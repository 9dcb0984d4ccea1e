/// The RTC's calendar: a moment as the MC146818's date and time registers hold it, and
/// the register encodings (BCD or binary, 12- or 24-hour) that register B selects
/// (MC146818A datasheet, "Time, Calendar and Alarm Locations", Table 3).
extension MC146818RTC {
    /// A UTC date and time, to the second.
    struct CalendarTime: Equatable {
        var year: Int          // full year, e.g. 2026
        var month: Int         // 1...12
        var day: Int           // 1...31
        var hour: Int          // 0...23
        var minute: Int
        var second: Int
        /// 1 = Sunday ... 7 = Saturday, as the RTC's day-of-week register counts.
        var dayOfWeek: Int

        /// The moment `seconds` after 1970-01-01 00:00:00 UTC.
        init(unixSeconds seconds: Int64) {
            let days = Int(seconds.floorDivided(by: 86_400))
            let secondOfDay = Int(seconds - Int64(days) * 86_400)
            (year, month, day) = Self.civil(fromDays: days)
            hour = secondOfDay / 3600
            minute = secondOfDay / 60 % 60
            second = secondOfDay % 60
            dayOfWeek = (days + 4).floorModulo(7) + 1      // 1970-01-01 was a Thursday (5)
        }

        init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
            self.year = year
            self.month = month
            self.day = day
            self.hour = hour
            self.minute = minute
            self.second = second
            dayOfWeek = (Self.days(year: year, month: month, day: day) + 4).floorModulo(7) + 1
        }

        /// Seconds since 1970-01-01 00:00:00 UTC. Out-of-range fields (a guest may write
        /// anything) just carry into the next field.
        var unixSeconds: Int64 {
            Int64(Self.days(year: year, month: month, day: day)) * 86_400
                + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
        }

        // Proleptic Gregorian calendar <-> days since 1970-01-01 (H. Hinnant, "chrono-
        // compatible low-level date algorithms", days_from_civil / civil_from_days).
        static func days(year: Int, month: Int, day: Int) -> Int {
            let y = month <= 2 ? year - 1 : year
            let era = y.floorDivided(by: 400)
            let yearOfEra = y - era * 400
            let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
            let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
            return era * 146_097 + dayOfEra - 719_468
        }

        static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
            let z = days + 719_468
            let era = z.floorDivided(by: 146_097)
            let dayOfEra = z - era * 146_097
            let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
            let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
            let mp = (5 * dayOfYear + 2) / 153
            let day = dayOfYear - (153 * mp + 2) / 5 + 1
            let month = mp < 10 ? mp + 3 : mp - 9
            return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
        }
    }

    /// How register B says the time registers are encoded.
    struct Encoding {
        /// Register B bit 2 (DM): binary; clear: BCD.
        var binary: Bool
        /// Register B bit 1 (24/12): 24-hour; clear: 12-hour with bit 7 of the hours = PM.
        var hour24: Bool

        static let pmBit: UInt8 = 0x80

        func encode(_ value: Int) -> UInt8 {
            let value = value.floorModulo(100)
            return binary ? UInt8(value) : UInt8((value / 10) << 4 | value % 10)
        }

        func decode(_ byte: UInt8) -> Int {
            binary ? Int(byte) : Int(byte >> 4) * 10 + Int(byte & 0x0F)
        }

        func encodeHour(_ hour: Int) -> UInt8 {
            if hour24 { return encode(hour) }
            let twelve = hour % 12 == 0 ? 12 : hour % 12
            return encode(twelve) | (hour >= 12 ? Self.pmBit : 0)
        }

        func decodeHour(_ byte: UInt8) -> Int {
            if hour24 { return decode(byte) }
            return decode(byte & ~Self.pmBit) % 12 + (byte & Self.pmBit != 0 ? 12 : 0)
        }
    }
}

extension BinaryInteger {
    func floorDivided(by divisor: Self) -> Self {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    func floorModulo(_ divisor: Self) -> Self { self - floorDivided(by: divisor) * divisor }
}
