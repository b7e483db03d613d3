-- Numbers Hotline answers itself ('service', target = the service: 'test' is the test line).
ALTER TABLE sip_numbers DROP CONSTRAINT sip_numbers_kind_check;
ALTER TABLE sip_numbers ADD CONSTRAINT sip_numbers_kind_check
    CHECK (kind IN ('extension', 'trunk', 'service'));
