"""A seat's values made into file bytes: the ini (:mod:`.renderer`, through the guarded templates of
:mod:`.templates`), the phonebook (:mod:`.contacts_xml`); :mod:`.files` holds what comes out."""
